//! The archive contract: every `Archive` keeps these promises.

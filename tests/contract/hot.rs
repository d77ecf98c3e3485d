//! The hot-store contract: every `HotStore` keeps these promises.

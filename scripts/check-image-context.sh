#!/usr/bin/env bash
# Checks that the image builds from what it copies, without a Docker
# engine: assembles the build context as `docker build .` would send it
# (the tree less .dockerignore's patterns), applies the build stage's COPY
# lines to it, then runs the stage's `cargo build` there as `cargo check`
# (same package, targets and lock; `include_str!`, `sqlx::migrate!` and
# build.rs are all run by a check). A file the build needs but the image
# does not get fails here, loudly, instead of at `docker compose up
# --build`. Part of scripts/test.sh.
#
#   scripts/check-image-context.sh                  # the Dockerfile
#   scripts/check-image-context.sh other/Dockerfile # another one, same context
#
# The context is assembled outside the tree (so no path can reach back
# into it), in a folder named after the tree's path (so repeated checks
# reuse their work), and checked into the tree's target/, sharing the
# dependencies the tests and clippy already compiled.
set -euo pipefail
cd "$(dirname "$0")/.."

dockerfile=${1:-Dockerfile}
context="${TMPDIR:-/tmp}/job-progress-image-context-$(pwd -P | sha256sum | cut -c1-12)"
say() { printf '[image-context] %s\n' "$*" >&2; }

command=$(python3 - "$dockerfile" "$context" <<'PY'
"""Assembles the build stage's files in the context folder and prints the
stage's build command, as a check, for the shell to run."""
import json, os, re, shlex, shutil, sys

dockerfile = sys.argv[1]
root = os.getcwd()
out = sys.argv[2]


def fail(message):
    print(f"[image-context] FAIL: {message}", file=sys.stderr)
    sys.exit(1)


# .dockerignore as Docker reads it: one pattern a line, `#` comments, `!`
# re-includes, a leading `/` ignored, the last matching pattern decides,
# and a pattern that matches a folder matches everything under it.
def to_regex(pattern):
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif c == "*":
            out, i = out + "[^/]*", i + 1
        elif c == "?":
            out, i = out + "[^/]", i + 1
        elif c == "[":
            end = pattern.index("]", i)
            body = pattern[i + 1:end]
            out, i = out + "[" + ("^" + body[1:] if body.startswith("!") else body) + "]", end + 1
        elif c == "\\" and i + 1 < len(pattern):
            out, i = out + re.escape(pattern[i + 1]), i + 2
        else:
            out, i = out + re.escape(c), i + 1
    return re.compile(out + r"\Z")


rules = []
if os.path.exists(".dockerignore"):
    for line in open(".dockerignore", encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        pattern = os.path.normpath(line[1:].strip() if keep else line).lstrip("/")
        rules.append((to_regex(pattern), keep))


def ignored(path):
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for regex, keep in rules:
        if any(regex.match(prefix) for prefix in prefixes):
            verdict = not keep
    return verdict


can_reinclude = any(keep for _, keep in rules)
context = []
for folder, dirs, files in os.walk(root):
    rel_folder = os.path.relpath(folder, root)
    rel = lambda name: name if rel_folder == "." else f"{rel_folder}/{name}"
    # An ignored folder is not walked, unless a `!` pattern could bring
    # something under it back.
    dirs[:] = sorted(d for d in dirs if can_reinclude or not ignored(rel(d)))
    context += [rel(f) for f in sorted(files) if not ignored(rel(f))]
if not context:
    fail("the build context is empty")

# The build stage: from the first FROM to the next one.
lines, joined = [], ""
for raw in open(dockerfile, encoding="utf-8"):
    raw = raw.rstrip("\n")
    if raw.strip().startswith("#"):
        continue
    if raw.endswith("\\"):
        joined += raw[:-1] + " "
        continue
    joined += raw
    if joined.strip():
        lines.append(joined.strip())
    joined = ""
stage, seen_from = [], False
for line in lines:
    word = line.split(None, 1)[0].upper()
    if word == "FROM":
        if seen_from:
            break
        seen_from = True
        continue
    if seen_from:
        stage.append(line)

shutil.rmtree(out, ignore_errors=True)
os.makedirs(out)
workdir, copied, build = "/", 0, None
for line in stage:
    word, _, rest = line.partition(" ")
    word = word.upper()
    if word == "WORKDIR":
        workdir = os.path.normpath(os.path.join(workdir, rest.strip()))
    elif word in ("COPY", "ADD"):
        args = json.loads(rest) if rest.strip().startswith("[") else shlex.split(rest)
        if any(a.startswith("--from") for a in args):
            continue
        args = [a for a in args if not a.startswith("--")]
        *sources, dest = args
        target = os.path.normpath(os.path.join(workdir, dest))
        if os.path.commonpath([target, workdir]) != workdir:
            fail(f"'{line}': only copies under WORKDIR {workdir} are modelled")
        target = os.path.join(out, os.path.relpath(target, workdir))
        into_folder = dest.endswith("/") or dest in (".", "./") or len(sources) > 1
        for source in sources:
            if any(ch in source for ch in "*?["):
                fail(f"'{line}': wildcards in COPY are not modelled")
            source = os.path.normpath(source).lstrip("/")
            if source == ".":
                picked = [(f, f) for f in context]
            else:
                under = [f for f in context if f.startswith(source + "/")]
                if under:
                    picked = [(f, os.path.relpath(f, source)) for f in under]
                elif source in context:
                    name = os.path.basename(source) if into_folder else ""
                    picked = [(source, name)]
                else:
                    fail(f"'{line}': {source} is not in the build context (missing, or excluded by .dockerignore)")
            for src, rel in picked:
                dst = os.path.join(target, rel) if rel else target
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copy2(os.path.join(root, src), dst)
                copied += 1
    elif word == "RUN" and "cargo build" in rest:
        build = rest.strip()
if build is None:
    fail(f"no `RUN cargo build ...` in the build stage of {dockerfile}")

# The image builds in release; a check of the same targets resolves every
# input the same way, and shares the tests' compiled dependencies.
check = build.replace("cargo build", "cargo check", 1).split()
check = [a for a in check if a != "--release"]
print(f"[image-context] {dockerfile}: {copied} files copied of a {len(context)}-file context", file=sys.stderr)
print(f"[image-context] the image runs: {build}", file=sys.stderr)
print(shlex.join(check))
PY
)

say "checking it: $command"
read -r -a argv <<<"$command"
export CARGO_TARGET_DIR="$PWD/target"
if ! (cd "$context" && "${argv[@]}"); then
  say "FAIL: the image's build stage does not compile from what $dockerfile copies"
  say "(a file the build needs is missing from its COPY lines or excluded by .dockerignore)"
  exit 1
fi
say "ok: the image's build context compiles"

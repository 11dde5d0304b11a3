"""Benchmark the env var scanner: a generated 5,000-file repository, scan time only.

    .venv/bin/python bench/detect.py [--files 5000] [--runs 5] [--seed 1]

Writes a realistic mix of JS/TS, Python, Go and Ruby sources (2-6 KB each, about a fifth
of them reading env vars), a few config files, and a `node_modules` tree the scanner must
skip, into a temporary directory (removed afterwards). Cloning is not timed. Prints the
number of files, the variables found and the seconds per scan (best and median). Target:
at most 2 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from envvars.detection import detect_in_directory

WORDS = [
    "user",
    "order",
    "item",
    "cart",
    "price",
    "total",
    "session",
    "token",
    "cache",
    "queue",
    "worker",
    "handler",
    "request",
    "response",
    "client",
    "server",
    "config",
    "logger",
    "metrics",
    "payment",
    "invoice",
    "account",
    "profile",
]

LANGUAGES = [  # (extension, share, env-reading line templates, filler template)
    (
        ".ts",
        0.25,
        ["const {v} = process.env.{n} ?? '{d}';", "const {v} = process.env['{n}'];"],
        "export function {f}({a}: number): number {{\n  const {b} = {a} * 2; // {c}\n  return {b} + 1;\n}}\n",
    ),
    (
        ".js",
        0.15,
        ["const {v} = process.env.{n} || '{d}';", "const {v} = import.meta.env.{n};"],
        "function {f}({a}) {{\n  const {b} = [{a}, '{c}'].join('-');\n  return {b}.length;\n}}\n",
    ),
    (
        ".py",
        0.25,
        [
            '{v} = os.getenv("{n}", "{d}")',
            '{v} = os.environ["{n}"]',
            '{v} = env.str("{n}", default="{d}")',
        ],
        "def {f}({a}):\n    {b} = [{a}, '{c}']\n    return len({b})\n\n",
    ),
    (
        ".go",
        0.2,
        ['\t{v} := os.Getenv("{n}")'],
        "func {f}({a} int) int {{\n\t{b} := {a} * 2 // {c}\n\treturn {b}\n}}\n\n",
    ),
    (
        ".rb",
        0.15,
        ['{v} = ENV.fetch("{n}", "{d}")', '{v} = ENV["{n}"]'],
        "def {f}({a})\n  {b} = [{a}, '{c}']\n  {b}.size\nend\n\n",
    ),
]


def _ident(rng: random.Random) -> str:
    return "_".join(rng.sample(WORDS, 2))


def _source(rng: random.Random, ext: str, templates, filler, var_names) -> str:
    lines = []
    if ext == ".py":
        lines.append("import os\n")
    if ext == ".go":
        lines.append('package main\n\nimport "os"\n')
    if rng.random() < 0.2:
        for _ in range(rng.randint(1, 4)):
            name = rng.choice(var_names)
            template = rng.choice(templates)
            lines.append(template.format(v=_ident(rng), n=name, d=rng.choice(WORDS)) + "\n")
    target = rng.randint(2048, 6144)
    size = sum(len(line) for line in lines)
    while size < target:
        chunk = filler.format(
            f=_ident(rng),
            a="x" + _ident(rng),
            b="y" + _ident(rng),
            c=" ".join(rng.sample(WORDS, 5)),
        )
        lines.append(chunk)
        size += len(chunk)
    return "".join(lines)


def generate(root: Path, files: int, seed: int) -> None:
    rng = random.Random(seed)
    var_names = [f"{rng.choice(WORDS).upper()}_{rng.choice(WORDS).upper()}_{i}" for i in range(300)]
    weights = [share for _ext, share, _t, _f in LANGUAGES]
    for i in range(files):
        ext, _share, templates, filler = rng.choices(LANGUAGES, weights)[0]
        package = f"packages/pkg{i % 50}/src/{rng.choice(WORDS)}"
        path = root / package / f"{_ident(rng)}_{i}{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_source(rng, ext, templates, filler, var_names))
    (root / ".env.example").write_text("".join(f"{n}=example\n" for n in var_names[:20]))
    (root / "docker-compose.yml").write_text("services:\n  app:\n    image: ${IMAGE:-app}\n")
    (root / "package.json").write_text('{"scripts": {"start": "node server.js"}}')
    for i in range(500):  # dependencies the scanner must not read
        dep = root / "node_modules" / f"dep{i}" / "index.js"
        dep.parent.mkdir(parents=True, exist_ok=True)
        dep.write_text("module.exports = process.env.SHOULD_NOT_BE_SEEN;\n" * 50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="butler-bench-detect-"))
    try:
        generate(root, args.files, args.seed)
        size_mb = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6
        timings, result = [], None
        for _ in range(args.runs):
            started = time.perf_counter()
            result = detect_in_directory(root, time_budget=60.0)
            timings.append(time.perf_counter() - started)
        assert result is not None and not result.truncated
        assert "SHOULD_NOT_BE_SEEN" not in result.variables
        print(
            f"files={result.scanned_files} (generated {args.files} + config; {size_mb:.1f} MB "
            f"on disk incl. node_modules) vars_found={len(result.variables)} "
            f"seconds_best={min(timings):.3f} seconds_median={statistics.median(timings):.3f} "
            f"runs={args.runs}"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

"""A flame graph (SVG) from `perf script` output: stacks folded, drawn root at the bottom.

    perf script -i perf.data | python3 ops/benchmarks/flamegraph.py --title "…" > flame.svg

No third-party code: the folding and the drawing are here. Swift symbols are demangled by
`swift demangle --simplified` when it is on the PATH.
"""
import argparse
import collections
import html
import re
import shutil
import subprocess
import sys


def frames(lines):
    """Yields each sample's stack, outermost first, from `perf script` text."""
    stack = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if stack:
                yield list(reversed(stack))
            stack = []
            continue
        if line[0] not in " \t":
            continue  # the sample's header line: comm, pid, time, event
        parts = line.strip().split(None, 1)
        if len(parts) < 2:
            continue
        symbol = re.sub(r"\+0x[0-9a-f]+$", "", parts[1].split(" (")[0])
        stack.append(symbol if symbol != "[unknown]" else "[unknown]")
    if stack:
        yield list(reversed(stack))


def demangle(names):
    tool = shutil.which("swift-demangle") or shutil.which("swift")
    if not tool:
        return {name: name for name in names}
    command = [tool, "--simplified", "--compact"] if tool.endswith("swift-demangle") else [
        tool, "demangle", "--simplified", "--compact"]
    text = "\n".join(names)
    out = subprocess.run(command, input=text, capture_output=True, text=True).stdout.split("\n")
    return {name: (out[index] if index < len(out) and out[index] else name) for index, name in enumerate(names)}


def short(name):
    name = re.sub(r"\(.*\)", "()", name)
    return name if len(name) < 160 else name[:157] + "…"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--title", default="samu worker")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--folded", help="also write the folded stacks (one line per stack, with its count) here")
    parser.add_argument("--inclusive", help="also write each function's inclusive share of the samples here")
    args = parser.parse_args()
    stacks = list(frames(sys.stdin))
    names = sorted({frame for stack in stacks for frame in stack})
    names = demangle(names)
    folded = collections.Counter(";".join(short(names[f]) for f in stack) for stack in stacks)
    total = sum(folded.values())
    if args.folded:
        with open(args.folded, "w") as handle:
            for key, count in folded.most_common():
                handle.write(f"{key} {count}\n")
    if args.inclusive:
        # Inclusive: a function counts once per sample whose stack holds it (recursion included once).
        inclusive = collections.Counter()
        for key, count in folded.items():
            for frame in set(key.split(";")):
                inclusive[frame] += count
        with open(args.inclusive, "w") as handle:
            for frame, count in inclusive.most_common(400):
                handle.write(f"{100 * count / max(total, 1):6.2f} %  {count:6d}  {frame}\n")
    # A tree of (name → (count, children)).
    root = {"count": 0, "children": {}}
    for key, count in folded.items():
        node = root
        node["count"] += count
        for frame in key.split(";"):
            node = node["children"].setdefault(frame, {"count": 0, "children": {}})
            node["count"] += count
    depth = 0

    def measure(node, level):
        nonlocal depth
        depth = max(depth, level)
        for child in node["children"].values():
            measure(child, level + 1)

    measure(root, 0)
    row, width, pad = 16, args.width, 10
    height = (depth + 1) * row + 60
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="#fdfdf8"/>',
           f'<text x="{pad}" y="20" font-size="15">{html.escape(args.title)} — {total} samples</text>']

    def colour(name):
        hashed = sum(ord(c) for c in name)
        return f"rgb({205 + hashed % 50},{90 + hashed % 110},{40 + hashed % 40})"

    def draw(node, name, x, level):
        w = (width - 2 * pad) * node["count"] / max(total, 1)
        if w < 0.3:
            return
        y = height - 20 - (level + 1) * row
        percent = 100 * node["count"] / max(total, 1)
        label = html.escape(name)
        out.append(f'<g><title>{label} ({node["count"]} samples, {percent:.1f} %)</title>'
                   f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 1}" fill="{colour(name)}"/>')
        if w > 40:
            chars = int(w / 6.6)
            text = name if len(name) <= chars else name[: max(chars - 1, 1)] + "…"
            out.append(f'<text x="{x + 3:.1f}" y="{y + 11}">{html.escape(text)}</text>')
        out.append("</g>")
        offset = x
        for child_name, child in sorted(node["children"].items()):
            draw(child, child_name, offset, level + 1)
            offset += (width - 2 * pad) * child["count"] / max(total, 1)

    draw(root, "all", pad, 0)
    out.append("</svg>")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()

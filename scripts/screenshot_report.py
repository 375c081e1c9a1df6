#!/usr/bin/env python3
"""Screenshot a ``hafs bench`` HTML report in a real headless browser (Debian's chromium).

    apt-get install -y chromium                      # once, as root
    python3 scripts/screenshot_report.py REPORT.html -o shots/report.png --pages 4

writes ``shots/report-1.png`` ... ``report-4.png``: consecutive 1,400 x 2,000 px views of the
page from the top (the report has no scripts, so each page is the same HTML shifted up by a
style rule). Without a report it first runs a short emulated ``hafs bench`` to make one. Look
at the PNGs: every chart must show its axis labels with units, nothing may overflow.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--hide-scrollbars",
)


def make_report(directory: Path) -> Path:
    """A small emulated run with failures, SLOs and two targets: every chart has data."""
    command = [sys.executable, "-m", "hafs_actors", "bench", "--emulate", "--no-progress"]
    command += ["--target", "openai:gpt-4o-mini", "--target", "gemini:gemini-2.5-flash"]
    command += ["--rate", "30", "--max-concurrency", "8", "--duration", "4s", "--warmup", "1s"]
    command += ["--prompt-tokens", "uniform:32:1024", "--max-tokens", "normal:64:16"]
    command += ["--slo", "ttft=300ms", "--percentiles", "50,90,99,99.9", "--label", "shot"]
    command += ["--out", str(directory)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return next(directory.glob("*.html"))


def screenshot(browser: str, html: Path, png: Path, width: int, height: int, top: int) -> None:
    with tempfile.TemporaryDirectory(prefix="hafs-shot-") as tmp:
        page = Path(tmp) / "page.html"
        text = html.read_text(encoding="utf-8")
        shift = f"<style>body{{margin-top:-{top}px}}</style></head>"
        page.write_text(text.replace("</head>", shift, 1), encoding="utf-8")
        command = [browser, *FLAGS, f"--user-data-dir={tmp}/profile"]
        command += [f"--window-size={width},{height}", f"--screenshot={png}", page.as_uri()]
        subprocess.run(command, check=True, capture_output=True, timeout=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", nargs="?", help="HTML report (default: make one)")
    parser.add_argument("-o", "--out", default="report.png", help="PNG path (numbered per page)")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=2000)
    parser.add_argument("--pages", type=int, default=1, help="how many window heights to shoot")
    parser.add_argument("--browser", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hafs-report-") as tmp:
        html = Path(args.report) if args.report else make_report(Path(tmp))
        for page in range(args.pages):
            png = out if args.pages == 1 else out.with_name(f"{out.stem}-{page + 1}{out.suffix}")
            screenshot(
                args.browser,
                html.resolve(),
                png.resolve(),
                args.width,
                args.height,
                page * args.height,
            )
            print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())

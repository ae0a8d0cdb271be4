"""Render an `asr evaluate` HTML report to a PNG with headless Chromium, to look at it.

    python tools/render_report.py runs/mine/test.html               # -> runs/mine/test.png
    python tools/render_report.py report.html --out page.png --window-size 1200,4000

Needs Debian's chromium (`apt-get install chromium`); says so when it is missing. Each run
uses a throw-away browser profile. (Chromium's `--blink-settings=scriptEnabled=false` would
also stop it writing the screenshot; a report has no script to disable anyway.)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
INSTALL_HINT = "chromium is not installed; install it with `apt-get install chromium`"
TIMEOUT_S = 120  # a cold start of chromium takes a few seconds; never hang forever


class ChromiumMissing(RuntimeError):
    """No headless browser on PATH."""


def find_chromium() -> str | None:
    """The path of a Chromium binary on PATH, or None."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def _run_headless(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with ``args`` in a throw-away profile; raise on failure."""
    browser = find_chromium()
    if browser is None:
        raise ChromiumMissing(INSTALL_HINT)
    with tempfile.TemporaryDirectory(prefix="asr-chromium-") as profile:
        command = [
            browser,
            "--headless",
            "--no-sandbox",  # runs as root in containers; the page is local and script-free
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            f"--user-data-dir={profile}",
            *args,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"chromium exited with status {done.returncode}:\n{tail}")
    return done


def dump_dom(html_path: str | Path) -> str:
    """The DOM Chromium builds from ``html_path``, serialized (what a browser really parsed)."""
    return _run_headless(["--dump-dom", Path(html_path).resolve().as_uri()]).stdout


def screenshot(html_path: str | Path, png_path: str | Path, window: str = "1200,2000") -> Path:
    """Render ``html_path`` in a ``window`` (width,height in CSS pixels) and save it as a PNG."""
    png = Path(png_path).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    _run_headless(
        [f"--screenshot={png}", f"--window-size={window}", Path(html_path).resolve().as_uri()]
    )
    if not png.is_file() or png.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot to {png}")
    return png


def main(argv: list[str] | None = None) -> int:
    """Command line; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", help="an HTML report written by `asr evaluate --report`")
    parser.add_argument("--out", help="PNG to write (default: the HTML's name with .png)")
    parser.add_argument(
        "--window-size", default="1200,2000", help="WIDTH,HEIGHT in pixels (default 1200,2000)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing --out")
    args = parser.parse_args(argv)
    html = Path(args.html)
    out = Path(args.out) if args.out else html.with_suffix(".png")
    if not html.is_file():
        print(f"render_report: error: {html}: no such file", file=sys.stderr)
        return 2
    if out.exists() and not args.force:
        print(f"render_report: error: {out}: already exists; pass --force", file=sys.stderr)
        return 2
    try:
        png = screenshot(html, out, args.window_size)
    except (ChromiumMissing, RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"render_report: error: {e}", file=sys.stderr)
        return 2
    print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())

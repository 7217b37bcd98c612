"""Independent decoders for printed output: poppler (pdftoppm, pdftotext), libdmtx (dmtxread),
zbar (zbarimg). Tests skip without them, unless CI is set (then they fail: .ci/run installs
them)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

TOOLS = {
    "pdftoppm": "poppler-utils",
    "pdftotext": "poppler-utils",
    "dmtxread": "dmtx-utils",
    "zbarimg": "zbar-tools",
}


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed (apt-get install {TOOLS[tool]})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def render(pdf: Path, dpi: int = 300) -> list[Path]:
    """Each page of ``pdf`` as a PNG, in page order."""
    prefix = pdf.with_suffix("")
    subprocess.run([need("pdftoppm"), "-r", str(dpi), "-png", str(pdf), str(prefix)], check=True)
    return sorted(
        pdf.parent.glob(prefix.name + "-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1])
    )


def decode(png: Path, kind: str, expect: int | None = None) -> list[str]:
    """Every 2D code's text on an image (Data Matrix by libdmtx, QR by zbar). ``expect``: how
    many codes the page should hold (libdmtx stops searching once it has found them)."""
    if kind == "datamatrix":
        limit = ["-N", str(expect)] if expect else []
        out = subprocess.run(
            [need("dmtxread"), "-n", *limit, str(png)], capture_output=True, text=True, timeout=300
        ).stdout
    else:
        out = subprocess.run(
            [need("zbarimg"), "-q", "--raw", "-Sdisable", "-Sqrcode.enable", str(png)],
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout
    return [line for line in out.splitlines() if line]


def pdf_text(pdf: Path) -> str:
    return subprocess.run(
        [need("pdftotext"), "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout

"""Finding the system fonts a transcript needs, by script.

Rocket.Chat's PDF lost non-Latin text because it shipped one font; we pick one font per script
from what the system has (fontconfig when present, else a directory scan, plus configured
paths), and the renderer falls back to a visible placeholder when a script has none.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SYSTEM_FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.local/share/fonts",
    "~/.fonts",
)
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")

# Preferred file names per role, best first. Basenames are stable across distributions
# (Debian fonts-dejavu-core / fonts-noto-core / fonts-noto-cjk, Alpine, Fedora, Homebrew).
CANDIDATES: dict[str, tuple[str, ...]] = {
    "sans": ("DejaVuSans.ttf", "NotoSans-Regular.ttf", "LiberationSans-Regular.ttf"),
    "sans-bold": ("DejaVuSans-Bold.ttf", "NotoSans-Bold.ttf", "LiberationSans-Bold.ttf"),
    "sans-italic": ("DejaVuSans-Oblique.ttf", "NotoSans-Italic.ttf", "LiberationSans-Italic.ttf"),
    "cjk": (
        "NotoSansCJK-Regular.ttc",
        "NotoSansCJKsc-Regular.otf",
        "NotoSansCJKjp-Regular.otf",
        "NotoSansSC-Regular.otf",
        "NotoSansSC-Regular.ttf",
        "NotoSansJP-Regular.otf",
        "wqy-zenhei.ttc",
        "wqy-microhei.ttc",
        "uming.ttc",
        "ukai.ttc",
        "droid-sans-fallback.ttf",
        "DroidSansFallbackFull.ttf",
    ),
    # Without these, the renderer draws Arabic/Hebrew with the main font (DejaVu Sans has
    # both, with shaping tables), so they are only missing when that one lacks them too.
    "arabic": ("NotoSansArabic-Regular.ttf", "NotoNaskhArabic-Regular.ttf"),
    "hebrew": ("NotoSansHebrew-Regular.ttf", "NotoSerifHebrew-Regular.ttf"),
    # Emoji in outline form (Debian fonts-symbola: the emoji of Unicode 9; Noto Emoji). fpdf2
    # 2.8.9 draws Noto Color Emoji's bitmaps as Type 3 glyphs, but their advance does not match
    # the width table our line breaker measures with (wide gaps after each one) and pdftotext
    # then extracts the line out of order, so the colour font is not used. An emoji no font
    # has gets its name written out (`docfonts.readable_fallback`), never a box.
    "emoji": ("Symbola_hint.ttf", "Symbola.ttf", "NotoEmoji-Regular.ttf"),
}

# Which apt package brings a missing role, for the warning printed in the PDF header.
PACKAGE_HINT = {
    "sans": "fonts-dejavu-core",
    "cjk": "fonts-noto-cjk",
    "arabic": "fonts-noto-core",
    "hebrew": "fonts-noto-core",
    "emoji": "fonts-symbola",
}

ROLE_LABEL = {
    "cjk": "Chinese/Japanese/Korean",
    "arabic": "Arabic",
    "hebrew": "Hebrew",
    "emoji": "emoji",
}


@dataclass(frozen=True)
class FontFile:
    path: str
    index: int = 0  # face number inside a .ttc/.otc collection


@dataclass(frozen=True)
class FontSet:
    """The font file chosen for each role; a role missing from `files` has no font."""

    files: dict[str, FontFile] = field(default_factory=dict)

    def get(self, role: str) -> FontFile | None:
        return self.files.get(role)

    def missing(self) -> list[str]:
        return [role for role in CANDIDATES if role not in self.files]


def discover_fonts(paths: Sequence[str] = (), *, use_fontconfig: bool = True) -> FontSet:
    """Choose a font per role. `paths` (files or directories) win over system fonts."""
    configured = list(_scan(paths))
    system: list[str] = []
    if use_fontconfig:
        system = _fc_list()
    if not system:
        system = list(_scan(SYSTEM_FONT_DIRS))
    return choose(configured + system)


def choose(files: Iterable[str]) -> FontSet:
    by_name: dict[str, str] = {}
    for path in files:
        by_name.setdefault(os.path.basename(path).lower(), path)  # first seen wins
    chosen: dict[str, FontFile] = {}
    for role, names in CANDIDATES.items():
        for name in names:
            path = by_name.get(name.lower())
            if path:
                chosen[role] = FontFile(path)
                break
    # Bold and italic are niceties: the regular face stands in.
    if "sans-bold" not in chosen and "sans" in chosen:
        chosen["sans-bold"] = chosen["sans"]
    if "sans-italic" not in chosen and "sans" in chosen:
        chosen["sans-italic"] = chosen["sans"]
    return FontSet(chosen)


def _fc_list() -> list[str]:
    exe = shutil.which("fc-list")
    if not exe:
        return []
    try:
        out = subprocess.run(
            [exe, "--format", "%{file}\n"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({line.strip() for line in out.splitlines() if line.strip()})


def _scan(paths: Iterable[str]) -> Iterable[str]:
    for raw in paths:
        path = Path(os.path.expanduser(raw))
        if path.is_file():
            yield str(path)
        elif path.is_dir():
            for root, _dirs, names in os.walk(path):
                for name in sorted(names):
                    if name.lower().endswith(FONT_SUFFIXES):
                        yield os.path.join(root, name)


_DEFAULT: FontSet | None = None


def default_fonts() -> FontSet:
    """System fonts, discovered once per process (fc-list costs ~50 ms)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = discover_fonts()
    return _DEFAULT

"""Font discovery and the line breaker."""

from __future__ import annotations

import os

import pytest
from fpdf import FPDF
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.services.transcripts.fonts import FontFile, choose, default_fonts, discover_fonts
from bot.services.transcripts.linebreak import Breaker, script_role

DEJAVU = default_fonts().get("sans")
needs_dejavu = pytest.mark.skipif(DEJAVU is None, reason="no DejaVu/Noto Sans installed")


def test_choose_prefers_the_first_candidate_per_role():
    fonts = choose(
        [
            "/a/NotoSans-Regular.ttf",
            "/b/DejaVuSans.ttf",
            "/c/wqy-zenhei.ttc",
            "/d/NotoSansArabic-Regular.ttf",
        ]
    )
    assert fonts.get("sans") == FontFile("/b/DejaVuSans.ttf")
    assert fonts.get("sans-bold") == FontFile("/b/DejaVuSans.ttf")  # regular stands in
    assert fonts.get("cjk") == FontFile("/c/wqy-zenhei.ttc")
    assert fonts.get("arabic") == FontFile("/d/NotoSansArabic-Regular.ttf")
    assert fonts.get("hebrew") is None
    assert "hebrew" in fonts.missing()


def test_nothing_found_is_an_empty_font_set():
    assert choose([]).files == {}


@needs_dejavu
def test_configured_paths_win_over_system_fonts(tmp_path):
    mine = tmp_path / "fonts" / "DejaVuSans.ttf"
    mine.parent.mkdir()
    os.symlink(DEJAVU.path, mine)
    assert discover_fonts([str(tmp_path / "fonts")]).get("sans") == FontFile(str(mine))
    # a single file works too, and so does a scan without fontconfig
    assert discover_fonts([str(mine)], use_fontconfig=False).get("sans") == FontFile(str(mine))


@needs_dejavu
def test_directory_scan_without_fontconfig_finds_system_fonts():
    assert discover_fonts(use_fontconfig=False).get("sans") is not None


def test_script_roles():
    assert script_role("a") is None and script_role("Ж") is None and script_role("λ") is None
    assert script_role("你") == "cjk" and script_role("か") == "cjk" and script_role("한") == "cjk"
    assert script_role("م") == "arabic" and script_role("ש") == "hebrew"


def make_breaker(size: float = 10) -> tuple[Breaker, FPDF]:
    pdf = FPDF()
    pdf.add_font("dv", "", DEJAVU.path)
    pdf.set_font("dv", size=size)
    cw = pdf.fonts["dv"].cw
    return Breaker("sans", lambda ch: "sans", lambda role: cw, size, pdf.k), pdf


@needs_dejavu
def test_widths_match_fpdf2():
    breaker, pdf = make_breaker()
    for text in ("hello world", "Здравствуйте", "Καλημέρα", "x" * 300):
        assert breaker.width(text) == pytest.approx(pdf.get_string_width(text), abs=1e-6)


@needs_dejavu
def test_long_url_is_cut_to_fit():
    breaker, pdf = make_breaker()
    url = "https://example.org/" + "a/b" * 200
    lines = breaker.wrap(f"see {url} ok", 100)
    assert lines[0] == "see"
    assert "".join(lines[1:-1]) + lines[-1].removesuffix(" ok") == url
    assert all(pdf.get_string_width(line) <= 100 + 1e-6 for line in lines)


@needs_dejavu
@settings(max_examples=150, deadline=None)
@given(
    text=st.lists(
        st.sampled_from([*"abc XYZ дж λμ 12,.", "  ", "\u00a0", "https://x.org/", "W" * 80]),
        max_size=80,
    ).map("".join),
    avail=st.floats(min_value=5, max_value=190),
)
def test_wrap_keeps_every_character_and_fits(text, avail):
    breaker, pdf = make_breaker()
    lines = breaker.wrap(text, avail)
    assert "".join("".join(lines).split()) == "".join(text.split())
    for line in lines:
        # A line only overflows when it is a single character wider than the space.
        assert len(line) <= 1 or pdf.get_string_width(line) <= avail + 1e-6

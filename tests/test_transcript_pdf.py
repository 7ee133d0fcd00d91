"""The PDF transcript, read back with poppler's pdftotext / pdfimages."""

from __future__ import annotations

import asyncio
import io
import subprocess
import threading
from datetime import timedelta

import pytest
from fpdf import FPDF
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.services.transcripts.fonts import FontSet, default_fonts
from bot.services.transcripts.model import TranscriptAttachment, TranscriptMessage
from bot.services.transcripts.naive import render_naive
from bot.services.transcripts.pdf import (
    RenderOptions,
    TranscriptRenderError,
    render_pdf,
    render_pdf_async,
)
from tests.test_transcript_helpers import (
    START,
    assert_in_order,
    conversation,
    needs_poppler,
    pdf_text,
    squash,
)

pytestmark = needs_poppler

MULTILINGUAL = [
    ("maria", "Hello, my order #1234 has not arrived yet."),
    ("alice", "Здравствуйте! Сейчас проверю ваш заказ."),
    ("nikos", "Καλημέρα, η παραγγελία σας στάλθηκε χθες."),
    ("li", "你好，我的包裹什么时候到？"),
    ("yuki", "こんにちは、注文の状況を教えてください。"),
    ("omar", "مرحبا، أين طلبي؟"),
    ("dana", "שלום, איפה ההזמנה שלי?"),
    ("alice", "Thanks, everyone — closing now."),
]


def has_font(role: str) -> bool:
    return default_fonts().get(role) is not None


def test_every_message_in_order_with_author_and_time(tmp_path):
    data = conversation(*MULTILINGUAL)
    text = pdf_text(render_pdf(data), tmp_path)
    needles = []
    for i, (user, said) in enumerate(MULTILINGUAL):
        needles += [f"12:{i:02d}", f"@{user}"]
        script_ok = (
            (("你" not in said and "こ" not in said) or has_font("cjk"))
            and ("مرحبا" not in said or has_font("arabic"))
            and ("שלום" not in said or has_font("hebrew"))
        )
        if script_ok:
            needles.append(said)
    assert_in_order(text, needles)


@pytest.mark.skipif(not has_font("arabic"), reason="no Arabic font installed")
def test_arabic_is_shaped_and_extracted_in_logical_order(tmp_path, monkeypatch):
    sentence = "مرحبا بك في المتجر الإلكتروني، سيصل طلبك غدا إن شاء الله " * 3
    data = conversation(("omar", sentence), ("omar", "شكرا جزيلا"), ("alice", "ok"))
    shaping: list[tuple] = []
    original = FPDF.set_text_shaping

    def spy(self, use_shaping_engine=True, **kw):
        shaping.append((use_shaping_engine, kw.get("direction"), kw.get("script")))
        return original(self, use_shaping_engine, **kw)

    monkeypatch.setattr(FPDF, "set_text_shaping", spy)
    text = pdf_text(render_pdf(data), tmp_path)
    assert_in_order(text, ["@omar", sentence, "@omar", "شكرا جزيلا", "@alice", "ok"])
    assert (True, "rtl", "arab") in shaping  # harfbuzz shaped the Arabic runs
    assert shaping[-1][0] is False  # and shaping is off again for everything else


def test_mixed_latin_and_arabic_in_one_message_keeps_both(tmp_path):
    data = conversation(("omar", "Order 1234: مرحبا بك and thanks"))
    text = pdf_text(render_pdf(data), tmp_path)
    assert "Order 1234:" in text and "and thanks" in text
    if has_font("arabic"):
        assert "مرحبا" in text and "بك" in text


def test_long_words_and_urls_wrap_inside_the_page(tmp_path):
    url = "https://shop.example.org/" + "/".join(f"segment{i}" for i in range(60))
    word = "x" * 400
    data = conversation(("maria", f"see {url} and {word} end"))
    pdf = render_pdf(data)
    text = pdf_text(pdf, tmp_path)
    assert_in_order(text, ["see", url, "and", word, "end"])
    # Nothing ran off the page: poppler crops to the page, so the text survived intact above
    # only if every line fit. Check the layout too: no line longer than the page allows.
    layout = pdf_text(pdf, tmp_path, "-layout")
    assert max(len(line) for line in layout.splitlines()) < 140


def test_page_that_starts_in_a_cjk_font_keeps_its_latin_text(tmp_path):
    """fpdf2 #1772: text after a page's first fallback-font run must not vanish."""
    # Every body line starts with CJK, so page breaks inside a body start a page in the CJK font.
    body = "\n".join(f"漢字 line {j} latin text after" for j in range(40))
    data = conversation(*[("li", f"m{i}\n{body}") for i in range(6)])
    pdf = render_pdf(data)
    pages = int(
        next(
            line.split()[-1]
            for line in subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True)
            .stdout.decode()
            .splitlines()
            if line.startswith("Pages:")
        )
    )
    assert pages >= 3
    cjk_first = 0
    for page in range(2, pages + 1):
        page_text = pdf_text(pdf, tmp_path, "-f", str(page), "-l", str(page)).strip()
        first = page_text.splitlines()[0]
        if has_font("cjk") and first.startswith("漢字"):
            cjk_first += 1
            assert "latin text after" in first
            assert page_text.count("latin text after") == page_text.count("line ")
    if has_font("cjk"):
        assert cjk_first >= 1, "the test no longer produces a page starting in CJK"
    full = pdf_text(pdf, tmp_path)
    assert squash(full).count(squash("latin text after")) == 6 * 40


def _image_bytes(fmt: str, size=(120, 60), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (200, 30, 30) if mode == "RGB" else 128).save(out, format=fmt)
    return out.getvalue()


def test_images_are_embedded_and_other_files_listed(tmp_path):
    atts = [
        TranscriptAttachment("photo.png", "image/png", 1000, _image_bytes("PNG")),
        TranscriptAttachment("photo.jpg", "image/jpeg", 2000, _image_bytes("JPEG")),
        TranscriptAttachment("anim.gif", "image/gif", 3000, _image_bytes("GIF", mode="P")),
        TranscriptAttachment("pic.webp", "image/webp", 4000, _image_bytes("WEBP")),
        TranscriptAttachment("wide.png", "image/png", 5000, _image_bytes("PNG", (4000, 300))),
        TranscriptAttachment("report.zip", "application/zip", 2048, None),
        TranscriptAttachment("broken.png", "image/png", 10, b"not a png"),
    ]
    data = conversation(("maria", "files"))
    msg = TranscriptMessage(ts=START, username="maria", text="here you go", attachments=atts)
    data = conversation(("maria", "files"), messages=[msg])
    pdf = render_pdf(data)
    (tmp_path / "i.pdf").write_bytes(pdf)
    listing = subprocess.run(
        ["pdfimages", "-list", str(tmp_path / "i.pdf")], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    widths = sorted(int(row.split()[3]) for row in listing if row.split()[2] == "image")
    assert widths == [120, 120, 120, 120, 4000]
    text = pdf_text(pdf, tmp_path)
    assert "Attachment: report.zip (application/zip, 2.0 KB)" in text
    assert "Attachment: pic.webp (image/webp, 3.9 KB)" in text
    assert "Attachment: broken.png" in text and "image could not be read" in text


@pytest.mark.parametrize(
    ("offset", "label", "first", "day"),
    [(9, "UTC+09:00", "21:00", "Friday, 14 March 2025"), (-5, "UTC-05:00", "07:00", None)],
)
def test_times_are_in_the_agents_timezone(tmp_path, offset, label, first, day):
    data = conversation(("maria", "hi"), ("alice", "hello"), tz=offset)
    late = TranscriptMessage(ts=START + timedelta(hours=3, minutes=30), username="maria", text="x")
    data = conversation(tz=offset, messages=[*data.messages, late])
    text = pdf_text(render_pdf(data), tmp_path)
    assert f"Times in: {label}" in text
    assert "Created: 2025-03-14 " + first in text
    after = "00:30" if offset == 9 else "10:30"
    assert_in_order(text, [first, "@maria", "hi", first[:3] + "01", "@alice", after, "x"])
    if offset == 9:  # 15:30 UTC is past midnight in Tokyo: a new day heading
        assert_in_order(text, ["Friday, 14 March 2025", "Saturday, 15 March 2025", "00:30"])


def test_header_lists_the_conversation(tmp_path):
    data = conversation(("maria", "hi"), site_name="ACME Support")
    text = pdf_text(render_pdf(data), tmp_path)
    for expected in (
        "ACME Support",
        "#42 maria-ivanova",
        "Maria Ivanova @maria <maria@example.org>",
        "Department: Sales",
        "Agents: alice",
        "Tags: vip",
        "Topic: Delivery",
        "Taken: 2025-03-14 12:00",
        "Closed: 2025-03-14 12:01",
        "Messages: 1",
    ):
        assert expected in text


def test_system_edited_quote_and_thread_marks(tmp_path):
    messages = [
        TranscriptMessage(START, "alice", "Conversation taken by alice", system="uj"),
        TranscriptMessage(START, "maria", "fixed typo", edited=True),
        TranscriptMessage(START, "alice", "yes", quote="is it shipped?", quote_author="maria"),
        TranscriptMessage(START, "alice", "in thread", tmid="T1"),
    ]
    pdf = render_pdf(conversation(messages=messages))
    text = pdf_text(pdf, tmp_path)
    assert_in_order(
        text,
        [
            "Conversation taken by alice",
            "(edited)",
            "fixed typo",
            "> maria: is it shipped?",
            "yes",
            "(thread reply)",
            "in thread",
        ],
    )
    assert "Oblique" in fonts_used(pdf, tmp_path) or "Italic" in fonts_used(pdf, tmp_path)
    plain = render_pdf(
        conversation(messages=messages[:1]), RenderOptions(system_messages_italic=False)
    )
    assert pdf_text(plain, tmp_path).count("Conversation taken by alice") == 1
    assert "Oblique" not in fonts_used(plain, tmp_path)


def fonts_used(pdf: bytes, tmp_path) -> str:
    (tmp_path / "f.pdf").write_bytes(pdf)
    return subprocess.run(
        ["pdffonts", str(tmp_path / "f.pdf")], capture_output=True, text=True, check=True
    ).stdout


def test_missing_script_font_degrades_to_placeholder_and_warning(tmp_path):
    only_latin = FontSet({"sans": default_fonts().get("sans")})
    data = conversation(("li", "你好 hello"), ("omar", "مرحبا"))
    text = pdf_text(render_pdf(data, RenderOptions(fonts=only_latin)), tmp_path)
    assert "□□ hello" in text
    assert "مرحبا" in text  # Arabic falls back to the main font, still shaped and reordered
    assert "Warning: no font installed for" in text and "Chinese/Japanese/Korean" in text


def test_no_font_at_all_is_a_clear_error():
    with pytest.raises(TranscriptRenderError, match="no Unicode font"):
        render_pdf(conversation(("maria", "hi")), RenderOptions(fonts=FontSet({})))


def test_naive_and_ours_extract_the_same_messages(tmp_path):
    said = [("maria", f"message {i} " + "word " * (i % 40)) for i in range(60)]
    data = conversation(*said)
    ours = squash(pdf_text(render_pdf(data), tmp_path))
    naive = squash(pdf_text(render_naive(data), tmp_path))
    assert ours == naive


def test_ten_thousand_messages_render_in_a_thread_without_stalling_others():
    data = conversation(*[("maria", f"message {i} with some words in it") for i in range(10_000)])
    ticks = 0
    done = threading.Event()
    result: list[bytes] = []

    def work() -> None:
        result.append(render_pdf(data))
        done.set()

    worker = threading.Thread(target=work)
    worker.start()
    while not done.wait(0.01):
        ticks += 1  # this thread keeps running while the worker renders
    worker.join()
    assert result[0].startswith(b"%PDF")
    assert ticks >= 5


@pytest.mark.skipif(not has_font("cjk"), reason="no CJK font installed")
def test_long_cjk_text_breaks_between_characters(tmp_path):
    said = "中文很长的一段话没有空格" * 40
    text = pdf_text(render_pdf(conversation(("li", said), ("alice", "ok"))), tmp_path)
    assert_in_order(text, [said, "@alice", "ok"])
    layout = pdf_text(render_pdf(conversation(("li", said))), tmp_path, "-layout")
    assert sum("中文" in line for line in layout.splitlines()) >= 5


def test_async_render_runs_off_the_event_loop():
    data = conversation(*[("maria", f"message {i}") for i in range(300)])

    async def main() -> tuple[bytes, int]:
        ticks = 0
        task = asyncio.create_task(render_pdf_async(data))
        while not task.done():
            ticks += 1
            await asyncio.sleep(0.001)
        return task.result(), ticks

    pdf, ticks = asyncio.run(main())
    assert pdf.startswith(b"%PDF") and ticks >= 1


def test_iana_timezone_and_fractional_offsets(tmp_path):
    tokyo = pdf_text(render_pdf(conversation(("maria", "hi"), tz="Asia/Tokyo")), tmp_path)
    assert "Times in: Asia/Tokyo (UTC+09:00)" in tokyo and "21:00" in tokyo
    india = pdf_text(render_pdf(conversation(("maria", "hi"), tz=5.5)), tmp_path)
    assert "Times in: UTC+05:30" in india and "17:30" in india


def test_empty_conversation_and_odd_characters_do_not_crash(tmp_path):
    assert "Messages: 0" in pdf_text(render_pdf(conversation()), tmp_path)
    odd = "nul\x00 bell\x07 zw\u200bsp emoji 😀 tab\there\r\nnext"
    text = pdf_text(render_pdf(conversation(("maria", odd))), tmp_path)
    assert_in_order(text, ["nul bell zwsp emoji", "tab", "here", "next"])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(max_size=200), max_size=5))
def test_any_text_renders(texts):
    pdf = render_pdf(conversation(*[("maria", t) for t in texts]))
    assert pdf.startswith(b"%PDF")

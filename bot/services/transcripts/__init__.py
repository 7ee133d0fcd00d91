"""PDF and e-mail transcripts of omnichannel conversations.

`render_pdf(TranscriptData) -> bytes` (pure CPU: run it via `render_pdf_async` or a worker
thread), `build_transcript_email(...)` and `send_email(...)`. The caller fills `TranscriptData`.
"""

from .email import Smtp, TranscriptDeliveryError, build_transcript_email, send_email
from .fonts import FontSet, default_fonts, discover_fonts
from .model import TranscriptAttachment, TranscriptContact, TranscriptData, TranscriptMessage
from .naive import render_naive
from .pdf import (
    RenderOptions,
    TranscriptRenderError,
    options_from_config,
    render_pdf,
    render_pdf_async,
)

__all__ = [
    "FontSet",
    "RenderOptions",
    "Smtp",
    "TranscriptAttachment",
    "TranscriptContact",
    "TranscriptData",
    "TranscriptDeliveryError",
    "TranscriptMessage",
    "TranscriptRenderError",
    "build_transcript_email",
    "default_fonts",
    "discover_fonts",
    "options_from_config",
    "render_naive",
    "render_pdf",
    "render_pdf_async",
    "send_email",
]

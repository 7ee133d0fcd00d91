"""`BufferedWebSocket.recv_message`: the reader's own slicing of text frames out of one socket
read, against frames written in odd pieces on a real socket pair (every length encoding, a
ping between two messages, a frame split across reads, one bigger than a read)."""

from __future__ import annotations

import random
import socket
import threading

from websocket import ABNF

from bot.rocketchat.ddp_socket import BufferedWebSocket


def _server_frame(opcode: int, payload: bytes) -> bytes:
    """A frame as a server sends it: final, unmasked."""
    return ABNF(1, 0, 0, 0, opcode, 0, payload).format()


def test_every_message_arrives_whole_and_in_order_whatever_the_reads() -> None:
    rng = random.Random(15)
    texts = [
        '{"msg":"ping"}',
        '{"msg":"changed","x":"' + "é" * 200 + '"}',  # 126: a 16-bit length
        '{"msg":"result","x":"' + "a" * 70_000 + '"}',  # 127: a 64-bit length, > one read
        "",
        '{"msg":"updated"}',
    ] * 20
    wire = bytearray()
    for n, text in enumerate(texts):
        wire += _server_frame(ABNF.OPCODE_TEXT, text.encode())
        if n == 3:
            wire += _server_frame(ABNF.OPCODE_PING, b"hi")  # answered by websocket-client
    ours, theirs = socket.socketpair()
    ws = BufferedWebSocket(skip_utf8_validation=True)
    ws.sock, ws.connected = ours, True

    def write_in_pieces() -> None:
        at = 0
        while at < len(wire):
            step = rng.choice((1, 2, 3, 7, 500, 4096, 100_000))
            theirs.sendall(wire[at : at + step])
            at += step

    writer = threading.Thread(target=write_in_pieces)
    writer.start()
    got = []
    for _ in texts:
        raw = ws.recv_message()
        got.append(raw.decode() if isinstance(raw, bytes) else raw)
    writer.join(10)
    assert got == texts
    theirs.settimeout(5)
    pong = theirs.recv(64)
    assert pong[0] == 0x80 | ABNF.OPCODE_PONG  # the ping in between was answered
    ours.close()
    theirs.close()

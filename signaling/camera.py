"""A synthetic camera whose frames carry their own number, and the reader for that number.

Each frame shows its number as 16 black-or-white bars across the top half (most significant bit
on the left), so a receiver can tell that what it decoded is this camera's picture and in which
order the frames came. The bars are wide enough to survive VP8 and H.264 at low bitrates.
"""

from __future__ import annotations

import av
from aiortc import VideoStreamTrack

BITS = 16
SIZE = (160, 120)
BLACK, WHITE, GREY = 16, 235, 128  # limited-range luma, as encoders expect


class NumberedCamera(VideoStreamTrack):
    """A video track of numbered frames at aiortc's default 30 frames per second."""

    def __init__(self, size: tuple[int, int] = SIZE) -> None:
        super().__init__()
        self.width, self.height = size
        if self.width < BITS or self.width % 2 or self.height % 2:
            raise ValueError(f"frame size must be even and at least {BITS} pixels wide")
        self.frames_sent = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = self.draw(self.frames_sent % (1 << BITS))
        frame.pts, frame.time_base = pts, time_base
        self.frames_sent += 1
        return frame

    def draw(self, number: int) -> av.VideoFrame:
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        luma, *chroma = frame.planes
        bar = self.width // BITS
        row = bytearray([GREY] * luma.line_size)
        for bit in range(BITS):
            if number >> (BITS - 1 - bit) & 1:
                row[bit * bar : (bit + 1) * bar] = bytes([WHITE]) * bar
            else:
                row[bit * bar : (bit + 1) * bar] = bytes([BLACK]) * bar
        grey = bytes([GREY]) * luma.line_size
        top = self.height // 2
        luma.update(bytes(row) * top + grey * (self.height - top))
        for plane in chroma:
            plane.update(bytes([128]) * plane.buffer_size)
        return frame


def read_number(frame: av.VideoFrame) -> int:
    """The number `NumberedCamera` drew into `frame`, read from the middle of each bar."""
    luma = frame.reformat(format="yuv420p").planes[0]
    data, stride = bytes(luma), luma.line_size
    bar = luma.width // BITS
    row = (luma.height // 4) * stride
    number = 0
    for bit in range(BITS):
        number = number << 1 | (data[row + bit * bar + bar // 2] > GREY)
    return number

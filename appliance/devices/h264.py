"""H.264 access units from devices: NAL units of an Annex B stream, and the parameter
sets put in front of every keyframe (the camera contract in appliance.devices.camera)."""

from __future__ import annotations

from appliance.devices.camera import CameraError, EncodedFrame

NAL_SLICE, NAL_IDR, NAL_SPS, NAL_PPS = 1, 5, 7, 8
START_CODE = b"\x00\x00\x00\x01"


def nal_units(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream, without their start codes."""
    units, i = [], data.find(b"\x00\x00\x01")
    while i >= 0:
        start = i + 3
        i = data.find(b"\x00\x00\x01", start)
        end = len(data) if i < 0 else i - (data[i - 1] == 0)  # a 4-byte start code's zero
        if end > start:
            units.append(data[start:end])
    return units


class ParameterSets:
    """Makes a device's H.264 output meet the camera contract.

    Encoders differ: some send SPS/PPS once, or in a buffer of their own with
    no picture (picamera2 drops those). This keeps the latest SPS and PPS and
    puts them in front of every IDR that lacks them, decides "keyframe" from
    the NAL types rather than a driver flag, and swallows header-only units.
    """

    def __init__(self) -> None:
        self.sps: bytes | None = None
        self.pps: bytes | None = None

    def access_unit(self, data: bytes, pts: int, capture_time: float) -> EncodedFrame | None:
        if not data.startswith((START_CODE, b"\x00\x00\x01")):
            raise CameraError("the camera's H.264 is not an Annex B byte stream")
        units = nal_units(data)
        types = [unit[0] & 0x1F for unit in units]
        for unit, kind in zip(units, types, strict=True):
            if kind == NAL_SPS:
                self.sps = unit
            elif kind == NAL_PPS:
                self.pps = unit
        if not {NAL_SLICE, NAL_IDR} & set(types):
            return None  # parameter sets only: kept for the next keyframe
        keyframe = NAL_IDR in types
        if keyframe and not (NAL_SPS in types and NAL_PPS in types):
            if self.sps is None or self.pps is None:
                return None  # undecodable until the encoder has told us its parameters
            data = START_CODE + self.sps + START_CODE + self.pps + data
        return EncodedFrame(data, pts, keyframe, capture_time)

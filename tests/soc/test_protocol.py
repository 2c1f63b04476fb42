"""The frame format: CRC, building and parsing frames, every parse error."""
import struct

import pytest

from hwgen.soc.protocol import Cmd, ProtocolError, Status, crc16, parse_response, request, response


def test_crc16_ccitt_false_check_value():
    assert crc16(b"123456789") == 0x29B1


def test_request_layout():
    f = request(Cmd.WRITE, 7, mem=1, addr=0x01020304, payload=b"\x10\x20")
    assert f[0] == 0xA5 and f[1:11] == bytes([2, 7, 1, 0, 4, 3, 2, 1, 2, 0])
    assert struct.unpack_from("<H", f, 11)[0] == crc16(f[1:11])
    assert f[13:15] == b"\x10\x20" and struct.unpack_from("<H", f, 15)[0] == crc16(b"\x10\x20")


@pytest.mark.parametrize("payload", [b"", b"x", bytes(range(200))])
def test_response_round_trip(payload):
    f = response(Status.OK, 9, payload)
    r = parse_response(f + b"trailing")
    assert (r.status, r.tag, r.payload, r.size) == (Status.OK, 9, payload, len(f))
    assert parse_response(f[:-1]) is None  # incomplete


def test_parse_errors():
    f = bytearray(response(Status.OK, 1, b"abc"))
    with pytest.raises(ProtocolError, match="SOF"):
        parse_response(b"\x00" + bytes(f))
    bad_header = bytearray(f)
    bad_header[2] ^= 1
    with pytest.raises(ProtocolError, match="header CRC"):
        parse_response(bytes(bad_header))
    bad_payload = bytearray(f)
    bad_payload[8] ^= 0x40
    with pytest.raises(ProtocolError, match="payload CRC"):
        parse_response(bytes(bad_payload))

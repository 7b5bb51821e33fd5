"""pantau's SNMP v2c codec agrees with pysnmp's encoder and decoder, and rejects garbage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api, rfc1902, rfc1905

from pantau.agent.snmp import ber as snmp_ber

V2C = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]

oids = st.builds(
    lambda head, rest: (*head, *rest),
    # (1, 39), (2, 47): the largest first byte below 128; (2, 48): the first two bytes long
    st.sampled_from([(1, 3), (0, 0), (1, 39), (2, 5), (2, 47), (2, 48), (2, 100)]),
    # sub-identifiers below 128 often (one byte each: the decoder's fast path), any others too
    st.lists(st.one_of(st.integers(0, 127), st.integers(0, 2**32 - 1)), min_size=1, max_size=12),
)
values = st.one_of(
    st.integers(-(2**31), 2**31 - 1).map(lambda v: (rfc1902.Integer32(v), v)),
    st.integers(0, 2**32 - 1).map(lambda v: (rfc1902.Counter32(v), v)),
    st.integers(0, 2**32 - 1).map(lambda v: (rfc1902.Gauge32(v), v)),
    st.integers(0, 2**32 - 1).map(lambda v: (rfc1902.TimeTicks(v), v)),
    st.integers(0, 2**64 - 1).map(lambda v: (rfc1902.Counter64(v), v)),
    st.binary(max_size=300).map(lambda v: (rfc1902.OctetString(v), v)),
    st.binary(min_size=4, max_size=4).map(lambda v: (rfc1902.IpAddress(v), v)),
    oids.map(lambda v: (rfc1902.ObjectName(v), v)),
    st.just((rfc1905.noSuchObject, snmp_ber.NO_SUCH_OBJECT)),
    st.just((rfc1905.noSuchInstance, snmp_ber.NO_SUCH_INSTANCE)),
    st.just((rfc1905.endOfMibView, snmp_ber.END_OF_MIB_VIEW)),
    st.just((rfc1902.Null(""), None)),
)


def pysnmp_response(request_id: int, status: int, varbinds: list) -> bytes:
    pdu = V2C.ResponsePDU()
    V2C.apiPDU.set_defaults(pdu)
    V2C.apiPDU.set_request_id(pdu, request_id)
    V2C.apiPDU.set_error_status(pdu, status)
    V2C.apiPDU.set_varbinds(pdu, varbinds)
    msg = V2C.Message()
    V2C.apiMessage.set_defaults(msg)
    V2C.apiMessage.set_community(msg, "c0mm")
    V2C.apiMessage.set_pdu(msg, pdu)
    return encoder.encode(msg)


@given(st.integers(0, 2**31 - 1), st.lists(st.tuples(oids, values), max_size=40))
def test_decodes_what_pysnmp_encodes(request_id: int, rows: list) -> None:
    data = pysnmp_response(request_id, 0, [(rfc1902.ObjectName(o), v[0]) for o, v in rows])
    resp = snmp_ber.decode_response(data)
    assert (resp.version, resp.community, resp.request_id) == (1, b"c0mm", request_id)
    assert resp.varbinds == [(o, v[1]) for o, v in rows]


@given(
    st.sampled_from([snmp_ber.GET, snmp_ber.GET_NEXT, snmp_ber.GET_BULK]),
    st.integers(0, 2**31 - 1),
    st.lists(oids, min_size=1, max_size=20),
    st.integers(0, 5),
    st.integers(0, 1000),
)
def test_requests_decode_in_pysnmp(
    pdu_type: int, rid: int, names: list, nonrep: int, rep: int
) -> None:
    data = snmp_ber.encode_message(
        1, b"public", snmp_ber.encode_pdu(pdu_type, rid, names, nonrep, rep)
    )
    msg, rest = decoder.decode(data, asn1Spec=V2C.Message())
    pdu = V2C.apiMessage.get_pdu(msg)
    assert rest == b"" and int(V2C.apiPDU.get_request_id(pdu)) == rid
    assert [tuple(o) for o, _ in V2C.apiPDU.get_varbinds(pdu)] == names
    if pdu_type == snmp_ber.GET_BULK:
        assert int(V2C.apiBulkPDU.get_max_repetitions(pdu)) == rep
        assert int(V2C.apiBulkPDU.get_non_repeaters(pdu)) == nonrep


GOOD = pysnmp_response(7, 0, [(rfc1902.ObjectName("1.3.6.1.2.1.1.3.0"), rfc1902.TimeTicks(42))])


@pytest.mark.parametrize("cut", range(len(GOOD)))
def test_every_truncation_is_malformed(cut: int) -> None:
    with pytest.raises(snmp_ber.MalformedMessage):
        snmp_ber.decode_response(GOOD[:cut])


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(GOOD + b"\x00", id="trailing-byte"),
        pytest.param(GOOD.replace(b"\x43\x01\x2a", b"\x47\x01\x2a"), id="unknown-value-type"),
        pytest.param(GOOD.replace(b"\xa2", b"\xa0", 1), id="request-not-response"),
        pytest.param(b"\x30\x80" + GOOD[2:], id="indefinite-length"),
        pytest.param(b"", id="empty"),
    ],
)
def test_garbage_is_malformed(data: bytes) -> None:
    with pytest.raises(snmp_ber.MalformedMessage):
        snmp_ber.decode_response(data)


@pytest.mark.parametrize("text", ["", "1", "iso.3.6", "1.3.-6", "3.1.2"])
def test_parse_oid_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        snmp_ber.parse_oid(text)

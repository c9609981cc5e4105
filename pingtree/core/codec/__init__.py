"""PURE: a lead → a buyer's request; a buyer's answer → Bid | Accepted | Decline | Failure
(| Unknown, a post's answer that may hide a yes).

    native.py      the native protocol of DESIGN §8 and the answer types every dialect shares
    transforms.py  typed value transforms of a field mapping (phone:10, state:name, date:…)
    request.py     a buyer's dialect → the request: sources, field mapping, URL, headers, auth
    bodies.py      json / form / xml bodies and query strings from mapped fields
    locate.py      reading a value at a JSON path, an XPath or a regex in a buyer's answer
    response.py    a buyer's answer → what it means, by its ResponseMap (or the native rules)
    quote.py       what of an unreadable answer the trace quotes

No module here awaits, reads the clock, draws a random number or logs: time and ids are arguments.
"""

from pingtree.core.codec.native import (
    Accepted,
    Bid,
    Decline,
    Failure,
    PingAnswer,
    PingBody,
    PostAnswer,
    Unknown,
    encode_ping,
    encode_post,
    parse_ping_answer,
    parse_post_answer,
    post_body,
)
from pingtree.core.codec.request import (
    OutboundRequest,
    Sources,
    build_body,
    build_request,
    derived_fields,
)
from pingtree.core.codec.response import read_ping_answer, read_post_answer
from pingtree.core.codec.transforms import MappingError

__all__ = [
    "Accepted",
    "Bid",
    "Decline",
    "Failure",
    "MappingError",
    "OutboundRequest",
    "PingAnswer",
    "PingBody",
    "PostAnswer",
    "Sources",
    "Unknown",
    "build_body",
    "build_request",
    "derived_fields",
    "encode_ping",
    "encode_post",
    "parse_ping_answer",
    "parse_post_answer",
    "post_body",
    "read_ping_answer",
    "read_post_answer",
]

"""Rows moved between two collections of one Milvus as the server's own column data.

pymilvus turns every queried vector into a list of Python floats and packs it back into bytes
for the insert: about 110 µs per 768-dimension row on 2 cores, more than the server spends
reading it. Here the query response's columns (protobuf ``FieldData``) go into the upsert
request unchanged, so a copy costs the server's read and write and almost nothing in between.

This uses pymilvus's own request builder and gRPC stub (``Prepare.query_request``,
``GrpcHandler._stub``), which are not public API: ``pyproject.toml`` pins pymilvus to the
release series this was written against, and the suite copies through it on Milvus Lite and
Milvus 2.3.5.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pymilvus.client import ts_utils
from pymilvus.client.call_context import _api_level_md
from pymilvus.client.prepare import Prepare
from pymilvus.client.types import Status
from pymilvus.client.utils import check_status
from pymilvus.decorators import retry_on_rpc_failure
from pymilvus.grpc_gen import milvus_pb2

TIMEOUT = 600.0  # seconds for one page; a page is at most PAGE_BYTES
RETRIES = 8  # as pymilvus's own calls retry an unavailable or rate-limited server, for about 10 s


@retry_on_rpc_failure(retry_times=RETRIES)
def query_columns(client: Any, collection: str, expr: str, fields: Sequence[str], limit: int | None,
                  pk: str) -> tuple[list[Any], list[Any]]:
    """The columns of the rows matching ``expr`` (at most ``limit``, the smallest keys first
    on every Milvus: ``iterator`` asks for that) and their primary keys."""
    conn = client._get_connection()
    context = client._generate_call_context()
    kwargs: dict[str, Any] = {"consistency_level": "Strong"}
    # before "iterator" is set: with it, pymilvus leaves consistency to the collection's default
    use_default = ts_utils.construct_guarantee_ts(collection, kwargs, conn.server_address, context.get_db_name())
    kwargs["iterator"] = "True"
    if limit is not None:
        kwargs["limit"] = limit
    request = Prepare.query_request(collection, expr, list(fields), [], use_default_consistency=use_default,
                                    **kwargs)
    response = conn._stub.Query(request, timeout=TIMEOUT, metadata=_api_level_md(context))
    if Status.EMPTY_COLLECTION in {response.status.code, response.status.error_code}:
        return [], []
    check_status(response.status)
    columns = list(response.fields_data)
    key_column = next((c for c in columns if c.field_name == pk), None)
    if key_column is None:
        return [], []
    scalars = key_column.scalars
    keys = list(scalars.long_data.data if scalars.HasField("long_data") else scalars.string_data.data)
    return columns, keys


def rows_from_columns(columns: Sequence[Any]) -> list[dict[str, Any]]:
    """Plain rows (vectors as lists of floats, JSON decoded, nulls as ``None``) from the
    columns of the field types templates allow."""
    decoded: dict[str, list[Any]] = {}
    for column in columns:
        if column.HasField("vectors"):
            flat, dim = list(column.vectors.float_vector.data), column.vectors.dim
            values: list[Any] = [flat[i:i + dim] for i in range(0, len(flat), dim)]
        else:
            kind = column.scalars.WhichOneof("data")
            values = list(getattr(column.scalars, kind).data) if kind else []
            if kind == "json_data":
                values = [json.loads(v) if v else None for v in values]
        if column.valid_data:  # nullable: valid_data marks the rows that have a value
            valid = list(column.valid_data)
            if len(values) == len(valid):
                values = [v if ok else None for v, ok in zip(values, valid, strict=True)]
            else:  # only the present values were sent
                present = iter(values)
                values = [next(present) if ok else None for ok in valid]
        decoded[column.field_name] = values
    names = list(decoded)
    return [dict(zip(names, row, strict=True)) for row in zip(*decoded.values(), strict=True)]


def page_bytes(columns: Sequence[Any]) -> int:
    """The serialized size of ``columns``: what their upsert request will carry."""
    return sum(column.ByteSize() for column in columns)


def has_validity(columns: Sequence[Any]) -> bool:
    """Whether any column is nullable. A query returns such a column with a slot for every row,
    an upsert must send only the present values, and the target's field may not be nullable at
    all (``add_field`` makes nullable fields), so those pages are sent as rows, which pymilvus
    packs to the target's schema."""
    return any(len(column.valid_data) for column in columns)


@retry_on_rpc_failure(retry_times=RETRIES)
def upsert_columns(client: Any, collection: str, columns: Sequence[Any], rows: int) -> None:
    """Upsert ``rows`` rows given as columns of another collection with the same field names
    (field ids are the source's, so they are cleared: the server matches columns by name).
    Columns must not be nullable (:func:`has_validity`)."""
    conn = client._get_connection()
    context = client._generate_call_context()
    request = milvus_pb2.UpsertRequest(collection_name=collection, num_rows=rows)
    for column in columns:
        copied = request.fields_data.add()
        copied.CopyFrom(column)
        copied.field_id = 0
    response = conn._stub.Upsert(request, timeout=TIMEOUT, metadata=_api_level_md(context))
    check_status(response.status)
    # as pymilvus's upsert: a later Session-consistency read by this client sees these rows
    ts_utils.update_collection_ts(collection, response.timestamp, conn.server_address, context.get_db_name())

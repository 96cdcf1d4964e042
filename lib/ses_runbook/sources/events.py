"""The SES event store (a configuration set's Firehose destination, delivered to S3) as the feedback source.

An SQS queue is read ten messages a call and keeps 14 days at most: fine for a small sender, an hour
from a laptop for one sending a million a day. Event publishing to Amazon Data Firehose writes the
same events to S3 as JSON lines (gzip or plain) under ``prefix/YYYY/MM/DD/HH/``; this module reads
that store into the very frame ``sources.feedback`` builds from the queue, so ``09_feedback``, the
spike's cause and the trace work unchanged from either source.

Two engines run one analysis text, ``FRAME_SQL`` (Trino SQL, Athena's dialect):

- ``duckdb`` (in-process, no server): only the lookback window's prefixes are listed, their objects
  fetched in parallel through the guarded client into a temporary folder, and streamed into DuckDB;
  nothing of the JSON is held in Python, and the store's size beyond the window does not matter.
  ``DUCKDB_PRELUDE`` defines the few Trino functions DuckDB spells otherwise: the one place the
  dialects differ.
- ``athena`` (a fleet's engine): the same text over the Glue table ``athena_table`` (partition
  projection on ``dt``, see the README), with ``StartQueryExecution``, ``GetQueryExecution`` and
  ``GetQueryResults`` (paged); Athena writes the results to the workgroup's output location.
"""

from __future__ import annotations

import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from ses_runbook.core.aws import describe_error
from ses_runbook.core.errors import FeedbackError
from ses_runbook.sources import feedback
from ses_runbook.sources.feedback import COLUMNS, Feedback

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from ses_runbook.core.aws import Aws
    from ses_runbook.core.params import Params

FETCH_THREADS = 10  # objects fetched at once: as many as botocore keeps connections for (its default pool)
DUCKDB_MEMORY = "512MB"  # DuckDB spills to its temporary folder beyond this, so a long window stays bounded
FIREHOSE_LAG = timedelta(hours=1)  # Firehose files an event under the hour it delivered it (buffering: 15 min at most)
CHUNK = 1 << 20

# The record as SES event publishing (``eventType``) or an identity notification (``notificationType``)
# writes it: only the fields the frame reads. The DuckDB reader's columns and the Glue table's DDL are
# both rendered from it, so the two engines see the same table.
SCHEMA: dict[str, Any] = {
    "eventType": "string",
    "notificationType": "string",
    "mail": {
        "timestamp": "string",
        "messageId": "string",
        "source": "string",
        "sourceArn": "string",
        "callerIdentity": "string",
        "destination": ["string"],
        "tags": ("map", ["string"]),
    },
    "bounce": {
        "bounceType": "string",
        "bounceSubType": "string",
        "timestamp": "string",
        "bouncedRecipients": [{"emailAddress": "string", "status": "string", "diagnosticCode": "string"}],
    },
    "complaint": {
        "timestamp": "string",
        "complaintFeedbackType": "string",
        "complaintSubType": "string",
        "complainedRecipients": [{"emailAddress": "string"}],
    },
    "delivery": {"timestamp": "string", "smtpResponse": "string", "recipients": ["string"]},
    "deliveryDelay": {
        "timestamp": "string",
        "delayType": "string",
        "delayedRecipients": [{"emailAddress": "string", "status": "string", "diagnosticCode": "string"}],
    },
    "reject": {"reason": "string"},
    "open": {"timestamp": "string"},
    "click": {"timestamp": "string"},
}


def duckdb_type(spec: Any) -> str:
    """DuckDB's spelling of a ``SCHEMA`` type (keys quoted: JSON keys are case-sensitive)."""
    if isinstance(spec, dict):
        return "STRUCT(" + ", ".join(f'"{k}" {duckdb_type(v)}' for k, v in spec.items()) + ")"
    if isinstance(spec, list):
        return duckdb_type(spec[0]) + "[]"
    if isinstance(spec, tuple):
        return f"MAP(VARCHAR, {duckdb_type(spec[1])})"
    return "VARCHAR"


def hive_type(spec: Any) -> str:
    """The Glue (Hive DDL) spelling of a ``SCHEMA`` type."""
    if isinstance(spec, dict):
        return "struct<" + ",".join(f"{k}:{hive_type(v)}" for k, v in spec.items()) + ">"
    if isinstance(spec, list):
        return f"array<{hive_type(spec[0])}>"
    if isinstance(spec, tuple):
        return f"map<string,{hive_type(spec[1])}>"
    return "string"


def glue_ddl(
    location: str = "s3://BUCKET/PREFIX/", table: str = "default.ses_events", start: str = "2025/01/01/00"
) -> str:
    """``CREATE EXTERNAL TABLE`` over the Firehose prefix, partitioned by the hour with partition
    projection (no crawler, no ``MSCK REPAIR``): what ``athena_table`` must name."""
    columns = ",\n".join(f"  `{name.lower()}` {hive_type(spec)}" for name, spec in SCHEMA.items())
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {table} (\n{columns}\n)\n"
        "PARTITIONED BY (dt string)\n"
        "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\n"
        "WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')\n"
        f"LOCATION '{location}'\n"
        "TBLPROPERTIES (\n"
        "  'projection.enabled' = 'true',\n"
        "  'projection.dt.type' = 'date',\n"
        "  'projection.dt.format' = 'yyyy/MM/dd/HH',\n"
        f"  'projection.dt.range' = '{start},NOW',\n"
        "  'projection.dt.interval' = '1',\n"
        "  'projection.dt.interval.unit' = 'HOURS',\n"
        f"  'storage.location.template' = '{location}${{dt}}/'\n"
        ");"
    )


# -- the analysis text, one for both engines -----------------------------------------------------
# One row per recipient an event is about, with the columns of ``feedback.COLUMNS``, as
# ``feedback.parse_notification`` makes them from a queue message. Identifiers in lower case (Athena
# folds them; DuckDB matches them without case). Placeholders: {table}, {dt_from}, {dt_to} (the hourly
# partitions), {since}, {until} (ISO times, compared as text: SES writes them all alike).
_RECIPIENTS = """CASE kind
        WHEN 'Bounce' THEN cardinality(bounce.bouncedrecipients)
        WHEN 'Complaint' THEN cardinality(complaint.complainedrecipients)
        WHEN 'Delivery' THEN cardinality(delivery.recipients)
        WHEN 'DeliveryDelay' THEN cardinality(deliverydelay.delayedrecipients)
        WHEN 'Reject' THEN cardinality(mail.destination)
        ELSE 1 END"""
MAX_RECIPIENTS = 50  # SES takes at most 50 recipients a message: no event names more
FRAME_SQL = f"""
WITH e AS (
  SELECT coalesce(eventtype, notificationtype) AS kind,
         CASE WHEN eventtype IS NULL THEN 'notification' ELSE 'event' END AS format,
         mail, bounce, complaint, delivery, deliverydelay, reject, "open", click
  FROM {{table}}
  WHERE dt BETWEEN '{{dt_from}}' AND '{{dt_to}}'
    AND coalesce(eventtype, notificationtype) IS NOT NULL AND mail IS NOT NULL
), n AS (
  SELECT e.*, greatest(coalesce({_RECIPIENTS}, 0), 1) AS n FROM e
), r AS (
  SELECT n.*, t.i
  FROM n JOIN UNNEST(sequence(1, {MAX_RECIPIENTS})) AS t (i) ON t.i <= n.n
), x AS (
  SELECT
    CASE kind
      WHEN 'Bounce' THEN bounce.timestamp
      WHEN 'Complaint' THEN complaint.timestamp
      WHEN 'Delivery' THEN delivery.timestamp
      WHEN 'DeliveryDelay' THEN deliverydelay.timestamp
      WHEN 'Open' THEN coalesce("open".timestamp, mail.timestamp)
      WHEN 'Click' THEN coalesce(click.timestamp, mail.timestamp)
      ELSE mail.timestamp END AS "time",
    kind AS "type",
    CASE kind
      WHEN 'Bounce' THEN element_at(bounce.bouncedrecipients, i).emailaddress
      WHEN 'Complaint' THEN element_at(complaint.complainedrecipients, i).emailaddress
      WHEN 'Delivery' THEN element_at(delivery.recipients, i)
      WHEN 'DeliveryDelay' THEN element_at(deliverydelay.delayedrecipients, i).emailaddress
      ELSE element_at(mail.destination, i) END AS recipient,
    CASE WHEN kind = 'Bounce' THEN bounce.bouncetype END AS bounce_type,
    CASE WHEN kind = 'Bounce' THEN bounce.bouncesubtype END AS bounce_subtype,
    CASE kind
      WHEN 'Bounce' THEN element_at(bounce.bouncedrecipients, i).diagnosticcode
      WHEN 'DeliveryDelay' THEN element_at(deliverydelay.delayedrecipients, i).diagnosticcode
      END AS diagnostic_code,
    CASE kind
      WHEN 'Bounce' THEN element_at(bounce.bouncedrecipients, i).status
      WHEN 'Delivery' THEN delivery.smtpresponse
      WHEN 'DeliveryDelay' THEN element_at(deliverydelay.delayedrecipients, i).status
      END AS status,
    CASE WHEN kind = 'Complaint'
      THEN coalesce(complaint.complaintfeedbacktype, complaint.complaintsubtype) END AS complaint_type,
    CASE WHEN kind = 'DeliveryDelay' THEN deliverydelay.delaytype END AS delay_type,
    CASE WHEN kind = 'Reject' THEN reject.reason END AS reject_reason,
    mail.source AS source,
    mail.sourcearn AS source_arn,
    coalesce(mail.calleridentity, element_at(element_at(mail.tags, 'ses:caller-identity'), 1)) AS caller,
    nullif(array_join(transform(
      filter(array_sort(map_keys(mail.tags)), k -> NOT (k LIKE 'ses:%' OR k LIKE 'aws:%')),
      k -> k || '=' || coalesce(element_at(element_at(mail.tags, k), 1), 'None')), '; '), '') AS tags,
    mail.messageid AS ses_message_id,
    mail.timestamp AS mail_time,
    format
  FROM r
)
SELECT "time", "type", recipient,
       nullif(lower(regexp_extract(recipient, '@([^@]*)$', 1)), '') AS recipient_domain,
       bounce_type, bounce_subtype, diagnostic_code, status, complaint_type, delay_type, reject_reason,
       source, source_arn, caller, tags, ses_message_id, mail_time, format
FROM x
WHERE "time" >= '{{since}}' AND "time" <= '{{until}}'
ORDER BY "time"
"""
# Trino functions DuckDB names otherwise (or, for element_at, answers otherwise: a list's missing
# index and a map's missing key are NULL in both only this way). Tested on DuckDB by the suite.
DUCKDB_PRELUDE = (
    "SET lambda_syntax = 'ENABLE_SINGLE_ARROW'",
    "CREATE MACRO sequence(a, b) AS generate_series(CAST(a AS BIGINT), CAST(b AS BIGINT))",
    "CREATE MACRO element_at(l, i) AS l[i]",
    "CREATE MACRO array_join(l, s) AS array_to_string(l, s)",
    "CREATE MACRO transform(l, f) AS list_transform(l, f)",
)
_ISO = "%Y-%m-%dT%H:%M:%S.000Z"
_HOUR = "%Y/%m/%d/%H"


def frame_sql(table: str, params: Params) -> str:
    """``FRAME_SQL`` for the lookback window of ``params`` over ``table``."""
    since, until = window(params)
    hours = window_hours(params)
    return FRAME_SQL.format(
        table=table,
        dt_from=hours[0].strftime(_HOUR),
        dt_to=hours[-1].strftime(_HOUR),
        since=since.strftime(_ISO),
        until=until.strftime("%Y-%m-%dT%H:%M:%S.999Z"),
    )


# -- the window ------------------------------------------------------------------------------
def configured(params: Params) -> bool:
    """Whether the parameters point at the event store (else the queue is the source)."""
    return bool(params.events_s3 or params.events_path or params.events_engine == "athena")


def window(params: Params) -> tuple[datetime, datetime]:
    as_of = params.as_of_datetime()
    return as_of - timedelta(days=params.lookback_days), as_of


def window_hours(params: Params) -> list[datetime]:
    """Every hour whose Firehose prefix may hold an event of the window, oldest first."""
    since, until = window(params)
    hour = since.replace(minute=0, second=0, microsecond=0)
    last = until + FIREHOSE_LAG
    out = []
    while hour <= last:
        out.append(hour)
        hour += timedelta(hours=1)
    return out


def prefixes(hours: list[datetime]) -> list[str]:
    """The fewest ``YYYY/MM/DD/`` or ``YYYY/MM/DD/HH/`` prefixes that cover exactly ``hours``:
    a day all of whose hours are in the window is listed once, the edge days hour by hour."""
    by_day: dict[str, list[datetime]] = {}
    for hour in hours:
        by_day.setdefault(hour.strftime("%Y/%m/%d/"), []).append(hour)
    out = []
    for day, inside in by_day.items():
        out += [day] if len(inside) == 24 else [h.strftime(_HOUR) + "/" for h in inside]
    return out


def split_s3(url: str) -> tuple[str, str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, prefix


# -- reading the store -------------------------------------------------------------------------
@dataclass
class StoreRead:
    """The window's objects as local files, and what fetching them found."""

    gzip: list[str] = field(default_factory=list)
    plain: list[str] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)


def _error(params: Params, exc: Exception, service: str, operation: str) -> FeedbackError:
    if getattr(exc, "ses_runbook_call", None) is None:
        exc.ses_runbook_call = (service, operation)  # type: ignore[attr-defined]
    where = params.events_s3 or params.events_path or params.athena_table
    return FeedbackError(" ".join(f"event store {where}: {describe_error(exc, params)}".split()))


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _sorted_in(read: StoreRead, path: Path) -> None:
    (read.gzip if _is_gzip(path) else read.plain).append(str(path))


def local_files(params: Params) -> StoreRead:
    """The window's files under ``events_path`` (``YYYY/MM/DD/HH/*``; links and folders skipped)."""
    root = Path(str(params.events_path))
    read = StoreRead()
    hours = window_hours(params)
    for hour in hours:
        folder = root / hour.strftime(_HOUR)
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.is_symlink():
                _sorted_in(read, path)
    read.notes = {"store": str(root), "prefixes": len(hours), "objects": len(read.gzip) + len(read.plain)}
    return read


def list_window(aws: Aws, params: Params) -> list[dict[str, Any]]:
    """S3 ``ListObjectsV2`` (all pages) of the window's prefixes only, in parallel; objects outside it left out."""
    bucket, root = split_s3(str(params.events_s3))
    hours = window_hours(params)
    wanted = {h.strftime(_HOUR) for h in hours}
    listed = prefixes(hours)

    def one(prefix: str) -> list[dict[str, Any]]:
        return aws.paginate("s3", "ListObjectsV2", "Contents", Bucket=bucket, Prefix=root + prefix)

    try:
        with ThreadPoolExecutor(max_workers=min(FETCH_THREADS, len(listed))) as pool:
            pages = list(pool.map(one, listed))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise _error(params, exc, "s3", "ListObjectsV2") from None
    return [o for page in pages for o in page if o["Key"][len(root) : len(root) + 13] in wanted]


def fetch_window(aws: Aws, params: Params, folder: Path) -> StoreRead:
    """The window's objects of ``events_s3``, fetched in parallel with S3 ``GetObject`` into ``folder``
    (streamed to disk a MiB at a time: memory stays flat whatever their size)."""
    bucket, root = split_s3(str(params.events_s3))
    objects = list_window(aws, params)
    size = sum(int(o.get("Size", 0)) for o in objects)
    if size > params.events_max_mib * 2**20:  # a bound on disk and time, whatever the store holds
        raise FeedbackError(
            f"event store {params.events_s3}: the {params.lookback_days}-day window holds {size / 2**20:,.0f} MiB "
            f"in {len(objects):,} object(s), more than events_max_mib={params.events_max_mib:,}: shorten "
            "lookback_days, raise events_max_mib, or query it with events_engine=athena"
        )
    client = aws.client("s3")  # the guarded client: counted, and refused if not a read

    def one(item: tuple[int, dict[str, Any]]) -> Path | None:
        n, obj = item
        path = folder / obj["Key"][len(root) : len(root) + 13] / f"{n:07d}"  # the hour's prefix kept: dt
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"]
            with open(path, "wb") as out:
                for chunk in iter(lambda: body.read(CHUNK), b""):
                    out.write(chunk)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None  # gone since the listing (a lifecycle rule): nothing to read
            raise _error(params, exc, "s3", "GetObject") from None
        except botocore.exceptions.BotoCoreError as exc:  # no connection, a read timeout
            raise _error(params, exc, "s3", "GetObject") from None
        return path

    read = StoreRead()
    with ThreadPoolExecutor(max_workers=FETCH_THREADS) as pool:
        paths = list(pool.map(one, enumerate(objects)))
    for path in paths:
        if path is not None:
            _sorted_in(read, path)
    read.notes = {
        "store": params.events_s3,
        "prefixes": len(prefixes(window_hours(params))),
        "objects": len(objects),
        "vanished": paths.count(None),
        "bytes": size,
    }
    return read


def connect(folder: Path) -> duckdb.DuckDBPyConnection:
    """An in-process DuckDB with the Trino prelude, spilling to ``folder`` beyond ``DUCKDB_MEMORY``."""
    # deferred: duckdb (about 60 MiB): only when the event store is read
    import duckdb

    # a database file, not memory: the window's table is paged out beyond the limit instead of held
    con = duckdb.connect(
        str(folder / "events.duckdb"), config={"memory_limit": DUCKDB_MEMORY, "temp_directory": str(folder / "spill")}
    )
    for statement in DUCKDB_PRELUDE:
        con.execute(statement)
    return con


def load_events(con: duckdb.DuckDBPyConnection, read: StoreRead) -> dict[str, int]:
    """The files into table ``events`` (with ``dt``, the hour of the prefix each came from), all of a
    kind at once; when that fails, file by file, so each bad object (not gzip, not JSON lines, a value
    of the wrong shape) is counted and skipped."""
    columns = {name: duckdb_type(spec) for name, spec in SCHEMA.items()}
    con.execute("CREATE TABLE events (" + ", ".join(f'"{k}" {v}' for k, v in columns.items()) + ", dt VARCHAR)")
    bad = 0

    def insert(files: list[str], compression: str) -> None:
        con.execute(
            "INSERT INTO events SELECT * EXCLUDE (filename), regexp_extract(filename, ?, 1) AS dt FROM read_json(?, "
            "columns = ?, format = 'newline_delimited', compression = ?, filename = true, "
            "maximum_object_size = 16777216)",
            [r"(\d{4}/\d{2}/\d{2}/\d{2})/[^/]*$", files, columns, compression],
        )

    for files, compression in ((read.gzip, "gzip"), (read.plain, "none")):
        if not files:
            continue
        try:
            insert(files, compression)
        except Exception:  # noqa: BLE001 - one bad object fails the batch: find it
            for one in files:
                try:
                    insert([one], compression)
                except Exception:  # noqa: BLE001 - not gzip, not JSON lines, or of another shape
                    bad += 1
    return {"bad_objects": bad}


def duckdb_frame(read: StoreRead, params: Params, folder: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``FRAME_SQL`` run by DuckDB over the fetched files: the frame, and the counts of what was skipped."""
    con = connect(folder)
    try:
        counts = load_events(con, read)
        records, other = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE coalesce(eventtype, notificationtype) IS NULL OR mail IS NULL) "
            "FROM events"
        ).fetchone() or (0, 0)
        con.execute("CREATE TABLE frame AS " + frame_sql("events", params))
        df = compact(con)
    finally:
        con.close()
    return df, {**counts, "records": int(records), "other_schema": int(other)}


# Columns whose values repeat (a type, a From, a domain): handed to pandas as categories, then as
# one string object per distinct value, so a million rows hold pointers, not a million copies.
REPEATING = (
    "type",
    "recipient_domain",
    "bounce_type",
    "bounce_subtype",
    "status",
    "complaint_type",
    "delay_type",
    "reject_reason",
    "source",
    "source_arn",
    "caller",
    "tags",
    "format",
)


def compact(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Table ``frame`` (``FRAME_SQL``'s result) as the plain frame ``feedback.frame`` makes, built
    without a Python string per repeated value or per time: the repeating columns come over as ENUMs
    (pandas categories), the times as timestamps."""
    con.execute("SET TimeZone = 'UTC'")
    columns = []
    for column in COLUMNS:
        if column in REPEATING:
            con.execute(
                f'CREATE TYPE "enum_{column}" AS ENUM (SELECT DISTINCT "{column}" FROM frame WHERE "{column}" IS NOT NULL)'
            )
            columns.append(f'CAST("{column}" AS "enum_{column}") AS "{column}"')
        elif column in ("time", "mail_time"):
            columns.append(f'TRY_CAST("{column}" AS TIMESTAMPTZ) AS "{column}"')
        else:
            columns.append(f'"{column}"')
    df = con.execute(f'SELECT {", ".join(columns)} FROM frame ORDER BY "time"').df()
    for column in REPEATING:  # the dtype DuckDB gives a text column: str, or object when all missing
        df[column] = df[column].astype("str" if df[column].notna().any() else object)
    return df


# -- Athena ------------------------------------------------------------------------------------
def athena_query(aws: Aws, params: Params, sql: str) -> list[list[str | None]]:
    """Run ``sql`` on Athena and return every row (the header first), all pages.

    Calls: ``StartQueryExecution`` once, ``GetQueryExecution`` until it ends (at most
    ``athena_timeout_s``), ``GetQueryResults`` per 1,000 rows. A failure or the timeout is one line
    with the query id; a query still running then is left to the workgroup's own limits.
    """
    request: dict[str, Any] = {"QueryString": sql, "WorkGroup": params.athena_workgroup}
    if params.athena_output_s3:
        request["ResultConfiguration"] = {"OutputLocation": params.athena_output_s3}
    try:
        qid = aws.call("athena", "StartQueryExecution", **request)["QueryExecutionId"]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise _error(params, exc, "athena", "StartQueryExecution") from None
    client = aws.client("athena")  # polled and paged directly: each answer differs, none may be memoized
    deadline = time.monotonic() + params.athena_timeout_s
    delay = 0.2
    while True:
        try:
            status = client.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise _error(params, exc, "athena", "GetQueryExecution") from None
        state = status.get("State")
        if state == "SUCCEEDED":
            break
        if state in ("FAILED", "CANCELLED"):
            reason = " ".join(str(status.get("StateChangeReason") or "no reason given").split())
            raise FeedbackError(f"Athena query {qid} {state.lower()}: {reason}")
        if time.monotonic() + delay > deadline:
            raise FeedbackError(
                f"Athena query {qid} did not finish within athena_timeout_s={params.athena_timeout_s:g} s "
                f"(state {state}); raise it, or look the query up in workgroup {params.athena_workgroup}"
            )
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
    rows: list[list[str | None]] = []
    token: str | None = None
    while True:
        page_args: dict[str, Any] = {"QueryExecutionId": qid, "MaxResults": 1000}
        if token:
            page_args["NextToken"] = token
        try:
            page = client.get_query_results(**page_args)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise _error(params, exc, "athena", "GetQueryResults") from None
        for row in page.get("ResultSet", {}).get("Rows", []):
            rows.append([cell.get("VarCharValue") for cell in row.get("Data", [])])
        token = page.get("NextToken")
        if not token:
            return rows


def athena_frame(aws: Aws, params: Params) -> tuple[pd.DataFrame, dict[str, Any]]:
    # deferred: pandas and numpy (about 40 MiB, 0.3 s): only where a frame is built; `check` never loads them
    import pandas as pd

    rows = athena_query(aws, params, frame_sql(params.athena_table, params))
    if rows and rows[0] == COLUMNS:
        rows = rows[1:]
    return pd.DataFrame(rows, columns=COLUMNS), {"store": f"Athena table {params.athena_table}", "records": None}


# -- the frame -------------------------------------------------------------------------------
def load(aws: Aws, params: Params) -> Feedback:
    """The lookback's notifications from the event store, as ``feedback.load`` gives them from the queue."""
    base = {"source": "events", "engine": params.events_engine, "lookback_days": params.lookback_days}
    if params.events_engine == "athena":
        df, notes = athena_frame(aws, params)
    else:
        if not (params.events_s3 or params.events_path):
            raise FeedbackError("events_engine=duckdb reads events_s3 or events_path: set one of them")
        with tempfile.TemporaryDirectory(prefix="ses-runbook-events-") as tmp:
            folder = Path(tmp)
            os.chmod(folder, 0o700)  # customer addresses: this user's alone
            read = fetch_window(aws, params, folder) if params.events_s3 else local_files(params)
            df, counts = duckdb_frame(read, params, folder)
            notes = {**read.notes, **counts}
    out = feedback.frame(df)
    since, until = window(params)
    inside = (out["time"] >= since) & (out["time"] <= until)
    notes = {
        **base,
        **notes,
        "notifications": int(len(out)),
        "outside_lookback": int((~inside).sum()),
        "as_of": until.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return Feedback(out[inside].reset_index(drop=True), notes)


def review(aws: Aws, params: Params) -> Feedback:
    """The notebook's read: the event store when the parameters name one, else the queue; never raises
    (a store that cannot be read gives an empty frame and a note saying why)."""
    if not configured(params):
        return feedback.review(aws, params)
    try:
        return load(aws, params)
    except FeedbackError as exc:
        return Feedback(
            feedback.frame([]), {"source": "events", "error": str(exc), "lookback_days": params.lookback_days}
        )


def cause_for(aws: Aws, params: Params) -> dict[str, Any] | None:
    """``feedback.cause_for`` from whichever source the parameters choose."""
    if not configured(params):
        return feedback.cause_for(aws, params)
    fb = review(aws, params)
    return None if fb.notes.get("error") else feedback.cause(fb, params)


def notes_text(notes: dict[str, Any]) -> str:
    """What the read found, in one paragraph (the queue's own text for the queue)."""
    if notes.get("source") != "events":
        return feedback.notes_text(notes)
    if notes.get("error"):
        return f"The event store was not read: {notes['error']}."
    if notes.get("engine") == "athena":
        head = f"Read {notes.get('store')} with Athena: {notes.get('notifications', 0)} row(s) in the window."
        return head
    size = f" ({notes['bytes'] / 2**20:.1f} MiB)" if notes.get("bytes") else ""
    parts = [
        f"Read {notes.get('objects', 0)} object(s){size} of {notes.get('store')} under "
        f"{notes.get('prefixes', 0)} prefix(es) of the {notes.get('lookback_days')}-day window, with DuckDB: "
        f"{notes.get('records', 0)} record(s), {notes.get('notifications', 0)} row(s) in the window"
    ]
    if notes.get("bad_objects"):
        parts.append(f"{notes['bad_objects']} object(s) not gzip or not JSON lines counted and skipped")
    if notes.get("other_schema"):
        parts.append(f"{notes['other_schema']} record(s) of another schema (not SES events) counted and skipped")
    if notes.get("vanished"):
        parts.append(f"{notes['vanished']} object(s) deleted since the listing skipped")
    return "; ".join(parts) + "."


def empty_text(fb: Feedback) -> str | None:
    """The clear "nothing there" message, or None when there are notifications."""
    if len(fb.frame) or fb.notes.get("error"):
        return None
    if fb.notes.get("source") != "events":
        return feedback.empty_text(fb)
    return (
        f"No events in the lookback: {fb.notes.get('store')} holds no SES event of the last "
        f"{fb.notes.get('lookback_days')} days. Either the prefix is not the Firehose stream's S3 destination "
        "prefix (compare them; objects must sit under YYYY/MM/DD/HH/), the configuration set's event destination "
        "is disabled or is not the set the mail is sent with, the stream fails to deliver (look under its error "
        "output prefix), or nothing was sent."
    )

"""What an import would make of a file's columns, shown before anything is written (`rostersync mapping`)."""

from itertools import islice

from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.headers import suggest
from jobs.errors import SourceError
from jobs.pipeline.inputs import CsvInput
from jobs.pipeline.starting import open_csv, refuse_before_writing, take_file
from jobs.records import ColumnPreview, ImportRequest, MappingPreview

SAMPLES = 3
_ROWS_FOR_SAMPLES = 50


async def preview(engine: AsyncEngine | None, request: ImportRequest) -> MappingPreview:
    """The mapping an import of `request` would use, with samples; `engine` None: no database yet, so nothing
    remembered either."""
    file = await take_file(engine, request.company_id, request.path, request.upload_id)
    try:
        inp, _ = await open_csv(engine, request, file)
        stop = None
        try:
            refuse_before_writing(inp, request)
        except SourceError as exc:
            stop = str(exc)
        return MappingPreview(
            request.path,
            request.kind,
            inp.source.encoding,
            inp.source.delimiter,
            inp.total,
            _columns(inp),
            stop,
        )
    finally:
        file.close()


def _columns(inp: CsvInput) -> list[ColumnPreview]:
    headers, mapping = inp.source.headers, inp.mapping
    samples: list[list[str]] = [[] for _ in headers]
    for row in islice(inp.source.rows(), _ROWS_FOR_SAMPLES):
        for i, value in enumerate(row.values[: len(headers)]):
            if value.strip() and len(samples[i]) < SAMPLES:
                samples[i].append(value.strip())
    columns = []
    for i, header in enumerate(headers):
        if i in mapping.fields:
            column = ColumnPreview(header, mapping.fields[i], mapping.how.get(i, "alias"), samples[i])
        elif i in mapping.report_columns.values():
            column = ColumnPreview(header, None, "report", samples[i])
        elif header in mapping.ignored:
            column = ColumnPreview(header, None, "ignored", samples[i])
        else:
            column = ColumnPreview(header, None, "unmapped", samples[i], suggest(header, inp.kind))
        columns.append(column)
    return columns

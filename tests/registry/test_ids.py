import uuid

import pytest

from registry.ids import as_uuid, new_ids


def test_new_ids_are_distinct_version_4_uuids_as_text() -> None:
    ids = new_ids(100)
    assert len(set(ids)) == 100
    assert all(str(uuid.UUID(i)) == i and uuid.UUID(i).version == 4 for i in ids)


def test_as_uuid_takes_a_uuid_or_its_text() -> None:
    value = uuid.uuid4()
    assert as_uuid(value) is value
    assert as_uuid(str(value)) == value
    assert as_uuid(value.hex.upper()) == value


@pytest.mark.parametrize("text", ["", "not-a-uuid", "1234"])
def test_as_uuid_refuses_other_text(text: str) -> None:
    with pytest.raises(ValueError, match="badly formed"):
        as_uuid(text)

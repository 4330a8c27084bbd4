"""How one listed record becomes published pixels: load -> normalize -> serialize -> PNG bytes.

The one home of that sequence, used by the build (``pipeline.stages``), the dry run and
``hydrate`` (``release.hydrate``), which must rebuild exactly the bytes a build published. A bad
record fails with ``CaseFailedError``, which names the stage and carries the bad-input error; any
other exception is a bug and propagates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from unimed_cot.builders import load_case
from unimed_cot.imaging import SerializeConfig, normalize_case, serialize_case
from unimed_cot.imaging.png import encode_png
from unimed_cot.reasons import BAD_INPUT, Reason, Stage, reason_of
from unimed_cot.records import Case, SourceRecord
from unimed_cot.samples import SerializedImages

if TYPE_CHECKING:
    from unimed_cot.builders import Builder


class CaseFailedError(Exception):
    """A case that is bad input at ``stage``; ``__cause__`` is the typed error."""

    def __init__(self, stage: Stage, error: BaseException) -> None:
        super().__init__(str(error))
        self.stage = stage
        self.error = error

    @property
    def reason(self) -> Reason:
        return reason_of(self.error)

    @property
    def detail(self) -> str:
        """The error's first line (the rejection file holds one line per rejection)."""
        text = str(self.error)
        return text.splitlines()[0] if text else type(self.error).__name__


@dataclass(slots=True)
class RenderedCase:
    """A loaded, normalized case and its serialized pixels."""

    case: Case
    pixels: SerializedImages


def render_case(builder: Builder, record: SourceRecord, config: SerializeConfig) -> RenderedCase:
    """Load, normalize and serialize one record.

    Raises:
        CaseFailedError: the record is bad input (its problem, an unreadable file, a label map
            off its grid, ...), with the stage it failed at.
    """
    stage = Stage.LOAD
    try:
        case = load_case(builder, record)
        stage = Stage.NORMALIZE
        case = normalize_case(case)
        stage = Stage.SERIALIZE
        pixels = serialize_case(case, config)
    except BAD_INPUT as error:
        raise CaseFailedError(stage, error) from error
    return RenderedCase(case=case, pixels=pixels)


def encoded_views(pixels: SerializedImages) -> dict[str, list[bytes]]:
    """Every view a question of the case may publish, as PNG bytes, by window string: the case's
    own window first, then the other CT windows its questions may see (``imaging.views``)."""
    views = pixels.views.all_views() if pixels.views else {pixels.window: pixels.images}
    return {window: [encode_png(image) for image in images] for window, images in views.items()}

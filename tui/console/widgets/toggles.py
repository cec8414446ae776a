"""Check boxes, radio buttons and selection lists whose state shows in text, not only in colour.

Textual draws a toggle on and off with the same character (``▐X▌``, ``▐●▌``) and tells them
apart by colour alone: under ``NO_COLOR`` or on a monochrome terminal every option reads as
chosen. Here an option that is off draws a blank inside its brackets (``▐ ▌``).
"""

from __future__ import annotations

from typing import Generic

from textual.strip import Strip
from textual.widgets import Checkbox, RadioButton, SelectionList
from textual.widgets.selection_list import SelectionType

OFF = " "


class MarkedCheckbox(Checkbox):
    @property
    def BUTTON_INNER(self) -> str:  # noqa: N802 - Textual's name for the character
        return Checkbox.BUTTON_INNER if self.value else OFF


class MarkedRadioButton(RadioButton):
    @property
    def BUTTON_INNER(self) -> str:  # noqa: N802 - Textual's name for the character
        return RadioButton.BUTTON_INNER if self.value else OFF


class MarkedSelectionList(SelectionList[SelectionType], Generic[SelectionType]):
    """SelectionList draws its buttons itself, with the toggle's ``BUTTON_INNER`` (the
    check box's ``X``) on every line: a line whose option is not selected gets a blank."""

    def render_line(self, y: int) -> Strip:
        line = super().render_line(y)
        segments = list(line)
        index = self.scroll_offset.y + y
        if (len(segments) < 4 or segments[1].text != Checkbox.BUTTON_INNER
                or index >= self.option_count or self.get_option_at_index(index).value in self.selected):
            return line
        segments[1] = segments[1]._replace(text=OFF)
        return Strip(segments, line.cell_length)

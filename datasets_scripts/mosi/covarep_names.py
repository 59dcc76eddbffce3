"""Write the 74 COVAREP column names into the MOSI dataset card.

    python datasets_scripts/mosi/covarep_names.py ../shared/data/mosi/covarep/covarep_labels.txt

Replaces the list between the ``covarep-names`` markers of ``datasets_scripts/mosi/README.md``
(one name per line, in column order); ``tests/test_dataset_cards.py`` checks the card against
the file and against the ``names`` of the real ``ZUXBRvtny7o_9.mat``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

CARD = Path(__file__).with_name("README.md")
BLOCK = re.compile(r"(<!-- covarep-names:start -->\n).*?(<!-- covarep-names:end -->)", re.S)


def main(labels_file: Path) -> None:
    names = labels_file.read_text().split()
    rows = "".join(f"{k}. `{name}`\n" for k, name in enumerate(names, start=1))
    card = CARD.read_text()
    if not BLOCK.search(card):
        raise SystemExit(f"{CARD}: no covarep-names markers")
    CARD.write_text(BLOCK.sub(lambda m: m.group(1) + rows + m.group(2), card))
    print(f"wrote {len(names)} COVAREP names into {CARD}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/mosi/covarep/covarep_labels.txt"))

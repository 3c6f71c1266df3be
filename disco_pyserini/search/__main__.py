"""``python -m disco_pyserini.search``: Pyserini's impact search command with DiSCo queries.

As ``python -m pyserini.search.lucene`` is ``pyserini/search/lucene/__main__.py``; the command
itself is :mod:`disco_pyserini.commands.pyserini_search`, which the library modules of this
package never import (so the command's options can use them without an import circle).
"""

from ..commands.pyserini_search import main

if __name__ == "__main__":
    raise SystemExit(main())

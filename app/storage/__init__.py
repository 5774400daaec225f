"""The storage layer: every SQL statement of Touchpoint lives in this package.

Functions take the database first and return plain dicts or tuples; callers never see a
cursor. Split by noun; callers use `storage.<function>` and never import the parts directly.
(It was `store`, a word that here also means a shop: `store_code`, the `store` location kind.)
"""

from .accounts import *  # noqa: F403
from .core import *  # noqa: F403
from .coupons import *  # noqa: F403
from .dashboard import *  # noqa: F403
from .domains import *  # noqa: F403
from .hits import *  # noqa: F403
from .jobs import *  # noqa: F403
from .link_search import *  # noqa: F403
from .offline import *  # noqa: F403
from .people import *  # noqa: F403
from .pipeline import *  # noqa: F403
from .reports import *  # noqa: F403
from .throttles import *  # noqa: F403

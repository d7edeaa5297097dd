"""Server-rendered pages for voters, administrators and auditors (docs/web.md).

``WEB_HANDLERS`` is what ``voting.app.create_app`` registers: the page
controller and the static files (templates' CSS, our ES modules and the
npm-built bundle of @noble/curves and @noble/hashes).
"""

from voting.web.pages import WEB_HANDLERS

__all__ = ["WEB_HANDLERS"]

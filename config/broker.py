"""The embedded default broker (``filesystem://``), with each message written atomically.

kombu's filesystem transport creates a message file under its final name and then writes it,
while a consumer moves any file with that name away and reads it without a lock: a consumer
that came between the two read an empty file, lost the message and stopped the worker
(``Unrecoverable error: JSONDecodeError``). Here a message is written under a name no consumer
looks at (it does not end in ``.msg``) and renamed into place once complete: ``os.replace`` in
one folder is atomic, so a consumer sees a whole message or none.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = f"{final}.part"
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            try:
                os.remove(partial)
            except OSError:
                pass
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel


# ``filesystem://`` names this transport from here on (config.celery imports this module).
TRANSPORT_ALIASES["filesystem"] = "config.broker:Transport"

"""Leases: jobs that one daemon at a time may do, and which daemons are alive.

A lease is a row naming its holder and when it lapses; the holder renews it on a timer
of its own while it works. A daemon that dies simply stops renewing, and another takes
over when the lease lapses (``[daemon] lease``, 30 s by default). Each daemon also
holds ``daemon:<holder>`` for as long as it runs: outbox rows claimed by a holder that
no longer has one go back to the queue at once.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from service.store.db import is_postgres
from service.store.models import Lease

__all__ = ["PRESENCE", "acquire", "holder_of", "live_holders", "new_holder", "presence", "release"]

PRESENCE = "daemon:"


def presence(holder: str) -> str:
    """The lease that says the daemon ``holder`` is alive."""
    return PRESENCE + holder


def new_holder() -> str:
    """A name for this daemon that no other daemon, here or elsewhere, will have."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def acquire(name: str, now: datetime, *, holder: str, ttl: timedelta) -> bool:
    """Take or renew the lease until ``now + ttl``; False while another live holder has it."""
    try:
        async with in_transaction():
            query = Lease.filter(name=name)
            if is_postgres():
                query = query.select_for_update()
            row = await query.first()
            if row is None:
                await Lease.create(name=name, holder=holder, expires_at=now + ttl)
                return True
            # Guarded: only the holder renews, and only a lapsed lease changes hands.
            if row.holder == holder:
                n = await Lease.filter(name=name, holder=holder).update(expires_at=now + ttl)
            else:
                n = await Lease.filter(name=name, holder=row.holder, expires_at__lte=now).update(
                    holder=holder, expires_at=now + ttl)
            return n == 1
    except IntegrityError:  # another daemon created it at the same moment
        return False


async def release(name: str, *, holder: str) -> None:
    await Lease.filter(name=name, holder=holder).delete()


async def holder_of(name: str, now: datetime) -> str | None:
    row = await Lease.get_or_none(name=name)
    return row.holder if row is not None and row.expires_at > now else None


async def live_holders(now: datetime) -> set[str]:
    """The daemons whose presence lease is current."""
    rows = await Lease.filter(name__startswith=PRESENCE, expires_at__gt=now).values_list(
        "holder", flat=True)
    return {str(h) for h in rows}

"""Leases: one daemon at a time watches a mailbox, however many share the database.

A lease is a row naming its holder and when it lapses; the holder renews it while it
works. A daemon that dies simply stops renewing, and another takes over after the TTL.
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

HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
TTL = timedelta(minutes=3)


async def acquire(name: str, now: datetime, *, holder: str = HOLDER, ttl: timedelta = TTL) -> bool:
    """Take or renew the lease; False while another live holder has it."""
    try:
        async with in_transaction():
            query = Lease.filter(name=name)
            if is_postgres():
                query = query.select_for_update()
            row = await query.first()
            if row is None:
                await Lease.create(name=name, holder=holder, expires_at=now + ttl)
                return True
            if row.holder != holder and row.expires_at > now:
                return False
            row.holder, row.expires_at = holder, now + ttl
            await row.save(update_fields=["holder", "expires_at"])
            return True
    except IntegrityError:  # another daemon created it at the same moment
        return False


async def release(name: str, *, holder: str = HOLDER) -> None:
    await Lease.filter(name=name, holder=holder).delete()


async def holder_of(name: str, now: datetime) -> str | None:
    row = await Lease.get_or_none(name=name)
    return row.holder if row is not None and row.expires_at > now else None

"""The schema: tortoise-orm models. The only module that knows table and column names.

Every row that belongs to a cohort says so (``cohort_id``), and everything unique is
unique within its cohort. The states are the enums of ``service.core.states``; their
transitions are guarded updates in ``outbox``, ``inbound`` and ``participants``.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from service.core.states import BounceState, InboundState, OutboxState, ParticipantStatus


class Setting(Model):
    """Key/value facts about this database: schema version, the token secret."""

    key = fields.CharField(max_length=64, primary_key=True)
    value = fields.TextField()

    class Meta:
        table = "cb_meta"


class Participant(Model):
    id = fields.IntField(primary_key=True)
    cohort_id = fields.CharField(max_length=64, db_index=True)
    email = fields.CharField(max_length=320)
    name = fields.CharField(max_length=200)
    timezone = fields.CharField(max_length=64)
    status = fields.CharEnumField(ParticipantStatus, max_length=16, default=ParticipantStatus.ACTIVE)
    paused_until = fields.DatetimeField(null=True)
    bounce_state = fields.CharEnumField(BounceState, max_length=8, default=BounceState.OK)
    soft_bounces = fields.IntField(default=0)
    goal = fields.TextField(null=True)
    consented = fields.BooleanField(default=False)  # said "share" (cohorts that need consent)
    joined_at = fields.DatetimeField()
    removed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "cb_participant"
        unique_together = (("cohort_id", "email"),)


class SeriesState(Model):
    """What the participants' calendars were last told about the series."""

    cohort_id = fields.CharField(max_length=64, primary_key=True)
    uid = fields.CharField(max_length=255)
    sequence = fields.IntField(default=0)
    fingerprint = fields.TextField(default="")  # of the series as last sent
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "cb_series"


class CalendarCopy(Model):
    """What one participant's calendar was last told about the series (see service/series.py)."""

    id = fields.IntField(primary_key=True)
    participant: fields.ForeignKeyRelation[Participant] = fields.ForeignKeyField(
        "models.Participant", related_name="calendar_copies", on_delete=fields.CASCADE
    )
    uid = fields.CharField(max_length=255)
    sequence = fields.IntField(default=0)
    shape: dict[str, object] = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "cb_calendar_copy"
        unique_together = (("participant", "uid"),)


class Rsvp(Model):
    id = fields.IntField(primary_key=True)
    participant: fields.ForeignKeyRelation[Participant] = fields.ForeignKeyField(
        "models.Participant", related_name="rsvps", on_delete=fields.CASCADE
    )
    uid = fields.CharField(max_length=255)
    # "" for the whole series, else the occurrence's original start in UTC, ISO 8601
    recurrence_key = fields.CharField(max_length=32, default="")
    partstat = fields.CharField(max_length=32)
    comment = fields.TextField(null=True)
    sequence = fields.IntField(default=0)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "cb_rsvp"
        unique_together = (("participant", "uid", "recurrence_key"),)


class Story(Model):
    id = fields.IntField(primary_key=True)
    cohort_id = fields.CharField(max_length=64, db_index=True)
    participant: fields.ForeignKeyRelation[Participant] = fields.ForeignKeyField(
        "models.Participant", related_name="stories", on_delete=fields.CASCADE
    )
    checkin_number = fields.IntField(null=True)
    message_id = fields.CharField(max_length=512)
    text = fields.TextField()
    cut = fields.TextField(default="")  # what trimming removed, kept so a wrong cut can be recovered
    private = fields.BooleanField(default=False)
    # When it became publishable (the digest's window); None: private, or awaiting consent.
    shared_at = fields.DatetimeField(null=True, db_index=True)
    attachments: list[dict[str, object]] = fields.JSONField(default=list)
    received_at = fields.DatetimeField(db_index=True)
    # A second reply to the same check-in is appended, an "edit" reply replaces the text:
    # how many replies the story is made of, and when it last changed (None: never).
    replies = fields.IntField(default=1)
    updated_at = fields.DatetimeField(null=True)

    class Meta:
        table = "cb_story"
        # status and the digest filter stories by participant (and check-in)
        indexes = (("participant_id",),)


class Reaction(Model):
    """A participant's +1 for a story: one per (story, participant), whatever arrives twice."""

    id = fields.IntField(primary_key=True)
    cohort_id = fields.CharField(max_length=64)
    story: fields.ForeignKeyRelation[Story] = fields.ForeignKeyField(
        "models.Story", related_name="reactions", on_delete=fields.CASCADE
    )
    participant: fields.ForeignKeyRelation[Participant] = fields.ForeignKeyField(
        "models.Participant", related_name="reactions", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField()

    class Meta:
        table = "cb_reaction"
        unique_together = (("cohort_id", "story_id", "participant_id"),)
        indexes = (("cohort_id", "created_at"),)


class PollVote(Model):
    """A participant's answer to the poll that the prompt of check-in ``poll_checkin``
    carries ([[polls]]: one poll per check-in); the latest answer replaces an earlier one."""

    id = fields.IntField(primary_key=True)
    cohort_id = fields.CharField(max_length=64)
    poll_checkin = fields.IntField()
    participant: fields.ForeignKeyRelation[Participant] = fields.ForeignKeyField(
        "models.Participant", related_name="poll_votes", on_delete=fields.CASCADE
    )
    option = fields.IntField()  # 1-based, as the prompt numbers the options
    voted_at = fields.DatetimeField()

    class Meta:
        table = "cb_poll_vote"
        unique_together = (("cohort_id", "poll_checkin", "participant_id"),)


class StoryAttachment(Model):
    """An attachment kept with its story (up to [mail] max_attachment_size)."""

    id = fields.IntField(primary_key=True)
    story: fields.ForeignKeyRelation[Story] = fields.ForeignKeyField(
        "models.Story", related_name="files", on_delete=fields.CASCADE
    )
    filename = fields.CharField(max_length=255)
    content_type = fields.CharField(max_length=255)
    size = fields.IntField()
    content = fields.BinaryField()

    class Meta:
        table = "cb_story_attachment"


class Resource(Model):
    id = fields.IntField(primary_key=True)
    cohort_id = fields.CharField(max_length=64)
    url = fields.CharField(max_length=2048)
    url_key = fields.CharField(max_length=64)  # sha256 of the normalised URL: unique per cohort
    title = fields.TextField()
    participant: fields.ForeignKeyRelation[Participant] = fields.ForeignKeyField(
        "models.Participant", related_name="resources", on_delete=fields.CASCADE
    )
    story: fields.ForeignKeyNullableRelation[Story] = fields.ForeignKeyField(
        "models.Story", related_name="resources", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "cb_resource"
        unique_together = (("cohort_id", "url_key"),)


class InboundMessage(Model):
    """Every message fetched from a mailbox, whatever it turned out to be. ``cohort_id``
    is the cohort it was routed to ("" when no cohort could be told: kept for a person)."""

    id = fields.IntField(primary_key=True)
    cohort_id = fields.CharField(max_length=64)
    message_id = fields.CharField(max_length=512)
    uid = fields.BigIntField()
    kind = fields.CharField(max_length=32)
    participant: fields.ForeignKeyNullableRelation[Participant] = fields.ForeignKeyField(
        "models.Participant", related_name="inbound", null=True, on_delete=fields.SET_NULL
    )
    from_addr = fields.CharField(max_length=320, default="")
    subject = fields.TextField(default="")
    reason = fields.TextField(default="")
    folder = fields.CharField(max_length=255, default="")  # where it was moved
    mailbox = fields.CharField(max_length=512, default="")  # the watched mailbox it came from
    state = fields.CharEnumField(InboundState, max_length=16, default=InboundState.STORED)
    raw_message = fields.BinaryField(null=True)  # kept for what the facilitator may need to read
    received_at = fields.DatetimeField()

    class Meta:
        table = "cb_inbound"
        unique_together = (("cohort_id", "message_id"),)


class MailboxCursor(Model):
    """How far one watched mailbox has been read (one per mailbox, whatever cohorts it
    serves): the UIDs up to ``last_uid`` of ``uidvalidity`` are stored."""

    mailbox = fields.CharField(max_length=512, primary_key=True)  # user@host:port/NAME
    uidvalidity = fields.BigIntField()
    last_uid = fields.BigIntField(default=0)

    class Meta:
        table = "cb_mailbox_cursor"


class Action(Model):
    """A scheduled action that has been done. The unique (cohort, key) is what stops a
    double send; the keys are built in ``service.core.keys``. What an action is about is
    in its columns (never parsed back out of the key)."""

    id = fields.IntField(primary_key=True)
    cohort_id = fields.CharField(max_length=64)
    key = fields.CharField(max_length=255)
    kind = fields.CharField(max_length=32)
    participant: fields.ForeignKeyNullableRelation[Participant] = fields.ForeignKeyField(
        "models.Participant", related_name="actions", null=True, on_delete=fields.CASCADE
    )
    checkin_number = fields.IntField(null=True)
    done_at = fields.DatetimeField()
    note = fields.TextField(default="")

    class Meta:
        table = "cb_action"
        unique_together = (("cohort_id", "key"),)
        indexes = (("cohort_id", "kind"),)


class OutboxMessage(Model):
    id = fields.IntField(primary_key=True)
    cohort_id = fields.CharField(max_length=64, db_index=True)
    kind = fields.CharField(max_length=32)  # invite | cancel | prompt | reminder | digest | ack | notice
    message_id = fields.CharField(max_length=512, unique=True)
    participant: fields.ForeignKeyNullableRelation[Participant] = fields.ForeignKeyField(
        "models.Participant", related_name="outbox", null=True, on_delete=fields.SET_NULL
    )
    checkin_number = fields.IntField(null=True)
    mail_from = fields.CharField(max_length=320)
    rcpt = fields.CharField(max_length=320)
    raw_message = fields.BinaryField()
    state = fields.CharEnumField(OutboxState, max_length=16, default=OutboxState.QUEUED, db_index=True)
    claim = fields.CharField(max_length=255, default="")  # the daemon holding a "sending" row
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    last_error = fields.TextField(default="")
    claimed_at = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "cb_outbox"


class Digest(Model):
    id = fields.IntField(primary_key=True)
    cohort_id = fields.CharField(max_length=64, db_index=True)
    slot = fields.DatetimeField()  # the scheduled time it stands for (UTC)
    period_start = fields.DatetimeField()
    period_end = fields.DatetimeField()
    stories = fields.IntField(default=0)
    resources = fields.IntField(default=0)
    sent = fields.BooleanField(default=False)  # False: nothing happened, none was sent
    created_at = fields.DatetimeField()

    class Meta:
        table = "cb_digest"
        unique_together = (("cohort_id", "slot"),)


class Lease(Model):
    """Who may do a job that only one daemon at a time may do (watch one IMAP mailbox), and
    which daemons are alive (``daemon:<holder>``, renewed on a timer by each daemon)."""

    name = fields.CharField(max_length=255, primary_key=True)
    holder = fields.CharField(max_length=255)
    expires_at = fields.DatetimeField()

    class Meta:
        table = "cb_lease"

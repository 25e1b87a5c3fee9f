// Parse iCalendar files with ical.js (Mozilla's parser, used by Thunderbird) and print,
// as one JSON object, what a calendar client would see: the calendar's properties, each
// VEVENT, and the expanded occurrences with EXDATEs and RECURRENCE-ID overrides applied.
//
// usage: node icaljs_validate.mjs FILE.ics [FILE.ics ...]   (prints {"FILE.ics": {...}})
// Run with TZ=UTC: a TZID that ical.js cannot resolve from the file's own VTIMEZONE
// would fall back to floating time, which the Python test then sees as wrong instants.
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const MAX_OCCURRENCES = 200;

function iso(time) {
  return time ? time.toJSDate().toISOString() : null;
}

function zoneOf(time) {
  return time && time.zone ? time.zone.tzid : null;
}

function describeEvent(vevent) {
  const event = new ICAL.Event(vevent);
  const recurrenceId = vevent.getFirstPropertyValue("recurrence-id");
  return {
    uid: event.uid,
    sequence: event.sequence,
    status: vevent.getFirstPropertyValue("status"),
    summary: event.summary,
    organizer: vevent.getFirstPropertyValue("organizer"),
    attendees: vevent.getAllProperties("attendee").map((p) => ({
      value: p.getFirstValue(),
      partstat: p.getParameter("partstat") ?? null,
      rsvp: p.getParameter("rsvp") ?? null,
    })),
    start: iso(event.startDate),
    startZone: zoneOf(event.startDate),
    end: iso(event.endDate),
    recurrenceId: iso(recurrenceId),
    recurrenceIdZone: zoneOf(recurrenceId),
    recurring: event.isRecurring(),
    exdates: vevent.getAllProperties("exdate").flatMap((p) => p.getValues().map(iso)),
  };
}

function occurrences(vevents) {
  const master = vevents.find((v) => !v.hasProperty("recurrence-id"));
  if (!master || !master.hasProperty("rrule")) return [];
  const event = new ICAL.Event(master);
  for (const exception of vevents.filter((v) => v.hasProperty("recurrence-id"))) {
    event.relateException(exception);
  }
  const found = [];
  const iterator = event.iterator();
  for (let next = iterator.next(); next && found.length < MAX_OCCURRENCES; next = iterator.next()) {
    const details = event.getOccurrenceDetails(next);
    found.push({
      recurrenceId: iso(details.recurrenceId),
      start: iso(details.startDate),
      end: iso(details.endDate),
    });
  }
  return found;
}

function describe(text) {
  const calendar = new ICAL.Component(ICAL.parse(text));
  const vevents = calendar.getAllSubcomponents("vevent");
  return {
    name: calendar.name,
    method: calendar.getFirstPropertyValue("method"),
    prodid: calendar.getFirstPropertyValue("prodid"),
    version: calendar.getFirstPropertyValue("version"),
    vtimezones: calendar.getAllSubcomponents("vtimezone").map((vtz) => ({
      tzid: vtz.getFirstPropertyValue("tzid"),
      parts: vtz.getAllSubcomponents().map((part) => ({
        name: part.name,
        rrule: part.hasProperty("rrule"),
        rdate: part.hasProperty("rdate"),
      })),
    })),
    events: vevents.map(describeEvent),
    occurrences: occurrences(vevents),
  };
}

const result = {};
for (const path of process.argv.slice(2)) {
  try {
    result[path] = describe(readFileSync(path, "utf8"));
  } catch (error) {
    result[path] = { error: String(error && error.stack ? error.stack : error) };
  }
}
process.stdout.write(JSON.stringify(result));

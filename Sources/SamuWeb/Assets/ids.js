"use strict";
// Ids the crew app and the shelter page make for what they send (an action, a change): kept with
// it while it is sent again, so that samu applies it once. randomUUID needs a secure context; a
// page served over plain HTTP on a private network gets a version-4 UUID from getRandomValues.
function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

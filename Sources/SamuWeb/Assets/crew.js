"use strict";
// samu's crew app: one unit's phone. Every action is kept in IndexedDB with an id made here, sent
// in order when there is signal, and applied once by samu (the id is the event's); what is still
// waiting is on screen. The credential is the device's own (enrolled by a supervisor's code).

const WORDS = {
  fr: {
    enrol_title: "Enrôler ce téléphone", enrol_help: "Saisissez le code donné par le superviseur (valable 15 minutes).",
    enrol: "Enrôler", enrolled: "Téléphone enrôlé pour l'unité ", bad_code: "Code inconnu, déjà utilisé ou expiré.",
    no_case: "Aucune mission. Restez disponibles.", open_map: "Ouvrir dans la carte", acknowledge: "Reçu — en route",
    on_scene: "Sur place", transporting: "En transport", resolution: "Issue", note: "Note (facultatif)",
    resolve: "Clôturer la mission", available: "Disponible", unavailable: "Indisponible", end_shift: "Fin de service",
    online: "en ligne", offline: "hors ligne", pending: "{n} action(s) en attente d'envoi", position: "Position",
    refused: "Refusé : ", revoked: "Ce téléphone n'est plus enrôlé. Demandez un nouveau code au superviseur.",
    new_case: "Nouvelle mission : ", waited: "attend depuis {m} min", away: "à {d} km, direction {b}",
    needs: "Compétences : ", bed: "Lit réservé : ", confidential: "adresse confidentielle — ne la communiquez à personne",
    changes: "Nouveau depuis votre dernière lecture", unit: "Unité ", status: "Statut : ", priority: "Priorité ",
    none: "aucune", beds_n: "{n} lit(s) ", at: " à ",
    why_case_reassigned: "la mission a été confiée à une autre équipe", why_case_closed: "la mission est close",
    why_no_such_case: "mission inconnue", why_case_not_seen: "une mission vous a été confiée entre-temps : voyez-la d'abord",
  },
  ar: {
    enrol_title: "تسجيل هذا الهاتف", enrol_help: "أدخلوا الرمز الذي سلمه المشرف (صالح 15 دقيقة).",
    enrol: "تسجيل", enrolled: "تم تسجيل الهاتف للوحدة ", bad_code: "رمز غير معروف أو مستعمل أو منتهي الصلاحية.",
    no_case: "لا توجد مهمة. ابقوا متاحين.", open_map: "فتح في الخريطة", acknowledge: "تم التوصل — في الطريق",
    on_scene: "في عين المكان", transporting: "في طور النقل", resolution: "النتيجة", note: "ملاحظة (اختيارية)",
    resolve: "إنهاء المهمة", available: "متاحة", unavailable: "غير متاحة", end_shift: "نهاية الخدمة",
    online: "متصل", offline: "غير متصل", pending: "{n} إجراء في انتظار الإرسال", position: "الموقع",
    refused: "مرفوض: ", revoked: "لم يعد هذا الهاتف مسجلا. اطلبوا رمزا جديدا من المشرف.",
    new_case: "مهمة جديدة: ", waited: "ينتظر منذ {m} دقيقة", away: "على بعد {d} كلم، الاتجاه {b}",
    needs: "الكفاءات: ", bed: "سرير محجوز: ", confidential: "عنوان سري — لا تطلعوا عليه أحدا",
    changes: "الجديد منذ آخر اطلاع", unit: "الوحدة ", status: "الحالة: ", priority: "الأولوية ",
    none: "لا شيء", beds_n: "{n} سرير ", at: " في ",
    why_case_reassigned: "أسندت المهمة إلى فريق آخر", why_case_closed: "المهمة مغلقة", why_no_such_case: "مهمة غير معروفة",
    why_case_not_seen: "أسندت إليكم مهمة في الأثناء: اطلعوا عليها أولاً",
  },
};
const LABELS = {
  fr: {
    child_street_situation: "Enfant en situation de rue", homeless_adult: "Adulte sans abri",
    isolated_elderly: "Personne âgée isolée", woman_violence_victim: "Femme victime de violence",
    person_with_disability: "Personne en situation de handicap", mental_distress: "Personne en détresse psychique",
    available: "disponible", en_route: "en route", on_scene: "sur place", transporting: "en transport",
    returning: "retour à la base", off_duty: "hors service",
    sheltered: "mis à l'abri", taken_to_hospital: "conduit à l'hôpital", referred_family: "remis à la famille",
    referred_child_protection: "remis à la protection de l'enfance", referred_police: "remis à la police",
    help_refused: "aide refusée", person_not_found: "personne introuvable", deceased: "personne décédée",
    men: "hommes", women: "femmes", women_with_children: "femmes avec enfants", minors: "mineurs", elderly: "personnes âgées",
    received: "reçue", triaged: "triée", queued: "en attente", assigned: "à accuser", acknowledged: "reçue par l'équipe",
    awaiting_resolution: "en attente de clôture", escalated: "escaladée", male: "homme", female: "femme", unknown: "sexe inconnu",
    child_protection: "protection de l'enfance", female_staff: "intervenante", nurse: "infirmier·e",
    social_worker: "travailleur social", speaks_arabic: "arabe", speaks_darija: "darija", speaks_french: "français",
    speaks_tamazight: "tamazight", speaks_spanish: "espagnol", speaks_english: "anglais",
  },
  ar: {
    child_street_situation: "طفل في وضعية الشارع", homeless_adult: "راشد بدون مأوى", isolated_elderly: "شخص مسن في وضعية عزلة",
    woman_violence_victim: "امرأة ضحية عنف", person_with_disability: "شخص في وضعية إعاقة", mental_distress: "شخص في ضائقة نفسية",
    available: "متاحة", en_route: "في الطريق", on_scene: "في عين المكان", transporting: "في طور النقل",
    returning: "في طريق العودة", off_duty: "خارج الخدمة",
    sheltered: "تم الإيواء", taken_to_hospital: "نُقل إلى المستشفى", referred_family: "أُعيد إلى الأسرة",
    referred_child_protection: "أُحيل على حماية الطفولة", referred_police: "أُحيل على الشرطة",
    help_refused: "رفض المساعدة", person_not_found: "لم يُعثر على الشخص", deceased: "متوفى",
    men: "رجال", women: "نساء", women_with_children: "نساء مع أطفال", minors: "قاصرون", elderly: "مسنون",
    received: "مستلمة", triaged: "مصنفة", queued: "في الانتظار", assigned: "في انتظار التأكيد", acknowledged: "تسلمها الفريق",
    awaiting_resolution: "في انتظار الإغلاق", escalated: "مصعدة", male: "ذكر", female: "أنثى", unknown: "جنس غير معروف",
    child_protection: "حماية الطفولة", female_staff: "متدخلة", nurse: "ممرض(ة)", social_worker: "مساعد اجتماعي",
    speaks_arabic: "العربية", speaks_darija: "الدارجة", speaks_french: "الفرنسية", speaks_tamazight: "الأمازيغية",
    speaks_spanish: "الإسبانية", speaks_english: "الإنجليزية",
  },
};
const RESOLUTIONS = ["sheltered", "taken_to_hospital", "referred_family", "referred_child_protection", "referred_police",
  "help_refused", "person_not_found", "deceased"];
const BEARINGS = { fr: ["N", "NE", "E", "SE", "S", "SO", "O", "NO"], ar: ["ش", "ش ق", "ق", "ج ق", "ج", "ج غ", "غ", "ش غ"] };

const state = {
  lang: localStorage.getItem("samu.crew.lang") || "fr",
  token: localStorage.getItem("samu.crew.token"),
  unit: localStorage.getItem("samu.crew.unit"),
  assignment: null, report: null, reportLoading: null, caseID: null, flushing: false, revoked: false,
  lastSent: null, here: null, watch: null, online: navigator.onLine,
  // The banner's message as keys (re-said in the language the crew switches to).
  alert: null,
  // On duty until the crew ends its shift: positions only then.
  onDuty: localStorage.getItem("samu.crew.duty") !== "off",
};

const $ = (id) => document.getElementById(id);
const t = (key) => (WORDS[state.lang] || WORDS.fr)[key] || key;
const label = (code) => (LABELS[state.lang] || LABELS.fr)[code] || code;

// ---- IndexedDB: the actions waiting to be sent, in the order they were made.
let database = null;
function db() {
  if (database) return Promise.resolve(database);
  return new Promise((resolve, reject) => {
    const request = indexedDB.open("samu-crew", 1);
    request.onupgradeneeded = () => request.result.createObjectStore("queue", { keyPath: "seq", autoIncrement: true });
    request.onsuccess = () => { database = request.result; resolve(database); };
    request.onerror = () => reject(request.error);
  });
}
async function store(mode, work) {
  const handle = await db();
  return new Promise((resolve, reject) => {
    const transaction = handle.transaction("queue", mode);
    const result = work(transaction.objectStore("queue"));
    transaction.oncomplete = () => resolve(result && result.result !== undefined ? result.result : result);
    transaction.onerror = () => reject(transaction.error);
  });
}
const queued = () => store("readonly", (queue) => queue.getAll());
const unqueue = (seq) => store("readwrite", (queue) => queue.delete(seq));

// An action: kept first, then sent with the others in order.
async function act(action, extra = {}) {
  const item = Object.assign({ event_id: uuid(), action, made_at: new Date().toISOString() }, extra);
  if (state.here && !item.position) item.position = state.here;
  if (action === "position") {
    // A newer position replaces one still waiting: the queue never fills with positions.
    const waiting = (await queued()).filter((entry) => entry.action === "position");
    for (const entry of waiting) await unqueue(entry.seq);
  }
  await store("readwrite", (queue) => queue.add(item));
  await showPending();
  flush();
}

async function showPending() {
  const items = await queued();
  const node = $("pending");
  node.dataset.count = String(items.length);
  node.hidden = items.length === 0;
  node.textContent = t("pending").replace("{n}", items.length);
}

async function flush() {
  if (state.flushing || state.revoked || !state.token) return;
  state.flushing = true;
  try {
    for (const item of await queued()) {
      const { seq, ...body } = item;
      let response;
      // A connection that stalls (a van between two cells) is given up after 15 s, the action
      // kept: sent again under its id, it is applied once.
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), 15000);
      const token = state.token;
      try {
        response = await fetch("/api/crew/actions", {
          method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
          body: JSON.stringify(body), signal: abort.signal,
        });
      } catch (error) {
        setNet(false);
        break; // no signal: it stays, in order
      } finally {
        clearTimeout(timer);
      }
      setNet(true);
      if (response.status === 202) {
        await unqueue(seq);
      } else if (response.status === 401) {
        if (state.token === token) revoked();  // else: the old token's refusal; sent again next time
        break;
      } else if (response.status >= 400 && response.status < 500 && ![404, 408, 429].includes(response.status)) {
        // Refused for good (stale, invalid): dropped, and the crew told why.
        const problem = await response.json().catch(() => ({}));
        refusedAction(item, { reason: problem.reason, detail: problem.detail || response.statusText });
        await unqueue(seq);
      } else {
        break; // the server or the broker is down, or the unit not known yet: try again later
      }
    }
  } finally {
    state.flushing = false;
    await showPending();
  }
}

function refusedAction(item, problem) {
  const li = document.createElement("li");
  li.dataset.eventId = item.event_id;
  li.dataset.action = item.action;
  li.dataset.reason = problem.reason || "";
  li.dataset.detail = problem.detail || "";
  $("refused").prepend(li);
  // The last refusals only: a long night must not grow the page without end.
  while ($("refused").children.length > 20) $("refused").lastElementChild.remove();
  sayRefusal(li);
}
// A refusal in the current language: samu's reason when the app knows it, else samu's words.
function sayRefusal(li) {
  const known = li.dataset.reason && WORDS.fr[`why_${li.dataset.reason}`];
  const why = known ? t(`why_${li.dataset.reason}`) : li.dataset.detail;
  li.textContent = `${t("refused")}${t(li.dataset.action)} — ${why}`;
}

function revoked() {
  state.revoked = true;
  localStorage.removeItem("samu.crew.token");
  state.token = null;
  stopTracking();
  alertCrew({ key: "revoked" }, false);
  document.body.dataset.revoked = "true";
  // The new code is typed here, above the case the crew still sees (its unsent actions are kept
  // for the same unit).
  $("enrol-view").hidden = false;
  $("enrol-status").className = "status error";
  $("enrol-status").textContent = t("revoked");
}

function setNet(online) {
  state.online = online;
  $("net").dataset.state = online ? "online" : "offline";
  $("net").textContent = online ? t("online") : t("offline");
}

// ---- The assignment: heard live (server-sent events over fetch, with the device's token).
// The server writes at least every 15 s; a stream silent for 35 s is dead (a connection lost
// without a word, as between two cells) and is opened again, as it is when the phone's network
// comes back.
const STREAM_SILENCE_MS = 35000;
async function listen() {
  // One stream: a phone enrolled again while it listens has its stream reopened with the new token.
  if (state.listening) {
    if (state.streamAbort) state.streamAbort.abort();
    if (state.streamRetry) state.streamRetry();
    return;
  }
  state.listening = true;
  try { await listenLoop(); } finally { state.listening = false; }
}

async function listenLoop() {
  while (state.token && !state.revoked) {
    let wait = 1000;
    const abort = new AbortController();
    state.streamAbort = abort;
    let watchdog = null;
    const quiet = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => abort.abort(), STREAM_SILENCE_MS);
    };
    try {
      quiet();
      const token = state.token;
      const response = await fetch("/api/crew/events", {
        headers: { Authorization: `Bearer ${token}` }, signal: abort.signal,
      });
      // A refusal of the old token, come after the phone was enrolled again, is not about this one.
      if (response.status === 401) {
        if (state.token !== token) continue;
        revoked();
        return;
      }
      if (response.status === 429) {
        // Too many streams for this phone (a dead one not yet noticed by the server): wait as told.
        wait = Math.max(1, Number(response.headers.get("Retry-After")) || 5) * 1000;
        throw new Error("429");
      }
      if (!response.ok || !response.body) throw new Error(String(response.status));
      setNet(true);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        quiet();
        state.streamHeardAt = Date.now();
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split("\n").filter((line) => line.startsWith("data: ")).map((line) => line.slice(6)).join("\n");
          if (block.includes("event: assignment") && data) received(JSON.parse(data));
        }
      }
    } catch (error) {
      setNet(false);
    } finally {
      clearTimeout(watchdog);
      state.streamAbort = null;
    }
    await new Promise((resolve) => { state.streamRetry = resolve; setTimeout(resolve, wait); });
    state.streamRetry = null;
    flush();
  }
}

// The network is back: a stream silent for a while (it may have died without a word) is opened
// again now, and a stream waiting to be opened is opened now. A stream heard from recently is
// left alone: each one opened holds one of the phone's two places at the server until it notices.
function reconnect() {
  if (state.streamAbort) {
    if (Date.now() - (state.streamHeardAt || 0) > 20000) state.streamAbort.abort();
  } else if (state.streamRetry) {
    state.streamRetry();
  }
}

async function received(assignment) {
  const previous = state.caseID;
  state.assignment = assignment;
  state.caseID = assignment.case ? assignment.case.case_id : null;
  if (state.caseID && state.caseID !== previous) {
    state.report = null;
    alertCrew({ key: "new_case", code: assignment.case.category }, true);
  }
  // The case is shown at once; what the caller said follows when it arrives, and is asked
  // for again with every later event until it does.
  render();
  if (state.caseID && !state.report) await loadReport(state.caseID);
}

async function loadReport(caseID) {
  if (state.reportLoading === caseID) return;
  state.reportLoading = caseID;
  try {
    const response = await fetch(`/api/crew/cases/${caseID}/report`, { headers: { Authorization: `Bearer ${state.token}` } });
    // A report that arrives after the crew moved on to another case is not shown under it.
    const report = response.ok ? await response.json() : null;
    if (report && state.caseID === caseID) {
      state.report = report;
      render();
    }
  } catch (error) {
    /* shown without the place until the next event */
  } finally {
    if (state.reportLoading === caseID) state.reportLoading = null;
  }
}

function alertCrew(message, loud) {
  state.alert = message;
  const node = $("alert");
  node.hidden = false;
  node.dataset.key = message.key;
  sayAlert();
  node.dataset.at = String(Date.now());
  if (!loud) return;
  if (navigator.vibrate) navigator.vibrate([300, 100, 300]);
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    tone.frequency.value = 880;
    tone.connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.4);
  } catch (error) { /* no sound before the first touch on some phones */ }
}

function sayAlert() {
  if (state.alert) $("alert").textContent = t(state.alert.key) + (state.alert.code ? label(state.alert.code) : "");
}

function distance(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad, dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  const km = 12742 * Math.asin(Math.sqrt(h));
  const y = Math.sin(dLon) * Math.cos(b.lat * rad);
  const x = Math.cos(a.lat * rad) * Math.sin(b.lat * rad) - Math.sin(a.lat * rad) * Math.cos(b.lat * rad) * Math.cos(dLon);
  const bearing = (Math.atan2(y, x) / rad + 360) % 360;
  return { km, bearing };
}

function render() {
  document.documentElement.lang = state.lang;
  document.documentElement.dir = state.lang === "ar" ? "rtl" : "ltr";
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  $("lang").textContent = state.lang === "ar" ? "Français" : "العربية";
  setNet(state.online);
  sayAlert();
  for (const li of $("refused").children) sayRefusal(li);
  const selected = $("resolution").value;
  $("resolution").replaceChildren(...RESOLUTIONS.map((code) => {
    const option = document.createElement("option");
    option.value = code; option.textContent = label(code);
    return option;
  }));
  if (selected) $("resolution").value = selected;
  const assignment = state.assignment || {};
  const unit = assignment.unit;
  $("unit-name").textContent = t("unit") + (state.unit || "");
  $("unit-status").textContent = t("status") + (unit ? label(unit.status) : "—");
  $("unit-status").dataset.status = unit ? unit.status : "";
  const item = assignment.case;
  $("assignment").dataset.caseId = item ? item.case_id : "";
  $("assignment").dataset.caseStatus = item ? item.status : "";
  $("no-case").hidden = Boolean(item);
  $("case").hidden = !item;
  for (const id of ["do-acknowledge", "do-on-scene", "do-transporting", "do-resolve"]) $(id).disabled = !item;
  if (!item) return;
  $("case-title").textContent = `${label(item.category)} — ${t("priority")}${item.priority}`;
  const waited = Math.max(0, Math.round((Date.now() - Date.parse(item.reported_at)) / 60000));
  $("case-meta").textContent = `${t("waited").replace("{m}", waited)} — ${label(item.status)}`;
  const from = state.here || (unit && unit.position);
  if (from) {
    const { km, bearing } = distance(from, item.location);
    $("case-where").textContent = t("away").replace("{d}", km.toFixed(1)).replace("{b}", (BEARINGS[state.lang] || BEARINGS.fr)[Math.round(bearing / 45) % 8]);
  }
  $("case-map").href = `geo:${item.location.lat},${item.location.lon}?q=${item.location.lat},${item.location.lon}`;
  const report = state.report || {};
  $("case-place").textContent = [report.place, report.commune].filter(Boolean).join(", ");
  const person = report.person ? ` — ${report.person.count || 1} × ${report.person.age ?? "?"} ${label(report.person.sex || "unknown")}` : "";
  $("case-needs").textContent = t("needs") + ((item.required_skills || []).map(label).join(", ") || t("none")) + person;
  // The beds held, and a confidential shelter's position, shown to the assigned crew only.
  const beds = item.beds || [];
  $("case-bed").replaceChildren(...beds.map((bed) => {
    const span = document.createElement("span");
    span.dataset.shelterId = bed.shelter_id;
    const name = (state.lang === "ar" ? bed.name_ar : bed.name_fr) || bed.name_fr || bed.shelter_id;
    span.textContent = `${t("bed")}${t("beds_n").replace("{n}", bed.beds)}${label(bed.bed_type)}${t("at")}${name} `;
    if (bed.position && bed.position.lat !== null) {
      const map = document.createElement("a");
      map.className = "map";
      map.dataset.shelterMap = bed.shelter_id;
      map.href = `geo:${bed.position.lat},${bed.position.lon}?q=${bed.position.lat},${bed.position.lon}`;
      map.textContent = t("open_map");
      span.append(map, " ");
    }
    if (bed.confidential) {
      const warning = document.createElement("strong");
      warning.className = "confidential";
      warning.textContent = t("confidential");
      span.append(warning);
    }
    return span;
  }));
  // What changed since the crew last looked at this case.
  const key = `samu.crew.seen.${item.case_id}`;
  const seen = Number(localStorage.getItem(key) || "0");
  const entries = item.timeline || [];
  $("case-changes").replaceChildren(...entries.map((entry, index) => {
    const li = document.createElement("li");
    li.className = Date.parse(entry.at) > seen ? "new" : "";
    li.textContent = `${new Date(entry.at).toLocaleTimeString(state.lang === "ar" ? "ar-MA" : "fr-MA", { hour: "2-digit", minute: "2-digit" })} ${label(entry.status)}`;
    return li;
  }));
  if (!document.hidden && entries.length) localStorage.setItem(key, String(Date.parse(entries[entries.length - 1].at)));
}

// ---- Position while on duty: at most every 30 s or 100 m. From the end of the shift (a pause,
// unavailable, is still on duty) the phone stops watching, and a page opened again stays so until
// the crew says it is available.
function setDuty(onDuty) {
  state.onDuty = onDuty;
  localStorage.setItem("samu.crew.duty", onDuty ? "on" : "off");
  document.body.dataset.duty = onDuty ? "on" : "off";
  if (onDuty) track();
  else stopTracking();
}
function track() {
  if (!navigator.geolocation || state.watch !== null || !state.onDuty) return;
  state.watch = navigator.geolocation.watchPosition((position) => {
    const here = { lat: position.coords.latitude, lon: position.coords.longitude };
    state.here = here;
    const last = state.lastSent;
    const moved = last ? distance(last.at, here).km * 1000 : Infinity;
    if (!last || Date.now() - last.time >= 30000 || moved >= 100) {
      state.lastSent = { at: here, time: Date.now() };
      act("position", { position: here });
    }
    render();
  }, () => {}, { enableHighAccuracy: true, maximumAge: 10000 });
}
function stopTracking() {
  if (state.watch !== null) navigator.geolocation.clearWatch(state.watch);
  state.watch = null;
}

async function enrol(code) {
  $("enrol-status").className = "status";
  const response = await fetch("/api/crew/enrol", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ code }),
  }).catch(() => null);
  if (!response || !response.ok) {
    $("enrol-status").className = "status error";
    $("enrol-status").textContent = t("bad_code");
    return false;
  }
  const enrolled = await response.json();
  // Actions made for another unit (a phone revoked, then enrolled for another van) are not this
  // unit's: they are dropped, never sent under its name.
  const before = localStorage.getItem("samu.crew.unit");
  if (before && before !== enrolled.unit_id) {
    for (const item of await queued()) await unqueue(item.seq);
  }
  localStorage.setItem("samu.crew.token", enrolled.token);
  localStorage.setItem("samu.crew.unit", enrolled.unit_id);
  state.token = enrolled.token;
  state.unit = enrolled.unit_id;
  state.revoked = false;
  document.body.dataset.revoked = "false";
  if (state.alert && state.alert.key === "revoked") state.alert = null;
  localStorage.setItem("samu.crew.duty", "on");
  state.onDuty = true;
  return true;
}

function enter() {
  $("enrol-view").hidden = true;
  $("main-view").hidden = false;
  document.body.dataset.unit = state.unit;
  document.body.dataset.duty = state.onDuty ? "on" : "off";
  render();
  showPending();
  listen();
  flush();
  track();
}

async function enrolFromLink() {
  const match = location.hash.match(/enrol=([A-Za-z0-9-]+)/);
  if (!match) return false;
  history.replaceState(null, "", "/crew");
  if (!(await enrol(match[1]))) { $("enrol-view").hidden = false; return false; }
  enter();
  return true;
}

async function start() {
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "ar" ? "fr" : "ar";
    localStorage.setItem("samu.crew.lang", state.lang);
    render();
  });
  const caseAction = (action, extra = {}) => () => act(action, Object.assign({ case_id: state.caseID }, extra));
  $("do-acknowledge").addEventListener("click", caseAction("acknowledge"));
  $("do-on-scene").addEventListener("click", caseAction("on_scene"));
  $("do-transporting").addEventListener("click", caseAction("transporting"));
  $("do-resolve").addEventListener("click", () => {
    act("resolve", { case_id: state.caseID, resolution: $("resolution").value, note: $("note").value || undefined });
    $("note").value = "";
  });
  // An action about the unit says which case the phone showed: samu refuses it if the unit has
  // another by then (a second phone of the crew took one while this one was offline).
  const unitAction = (action) => act(action, { seen_case_id: state.caseID || "" });
  $("do-available").addEventListener("click", () => { unitAction("available"); setDuty(true); });
  $("do-unavailable").addEventListener("click", () => unitAction("unavailable"));
  $("do-end-shift").addEventListener("click", () => { unitAction("end_shift"); setDuty(false); });
  $("enrol-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (await enrol($("enrol-code").value)) enter();
  });
  window.addEventListener("online", () => { setNet(true); reconnect(); flush(); });
  window.addEventListener("offline", () => setNet(false));
  setInterval(flush, 5000);
  setInterval(render, 30000);
  setNet(navigator.onLine);
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/crew-sw.js", { scope: "/crew" }).catch(() => {});
  render();
  // A link from the supervisor (/crew#enrol=CODE) enrols the phone, then leaves the address bar;
  // also when the page is already open (a revoked phone given a new link).
  window.addEventListener("hashchange", enrolFromLink);
  if (await enrolFromLink()) return;
  if (state.token) enter();
  else { $("enrol-view").hidden = false; $("main-view").hidden = true; }
}

document.addEventListener("DOMContentLoaded", start);

// samu operator console: taking a call. The form builds a samu.reports.v1 event (schema version 3),
// checked live by the decoder the workers use (POST /api/calls/check), and proposes the open cases
// nearby that may be about the same person. The report's id is made once, when the call starts:
// a double click or a retry publishes one report. Plain JavaScript; uses app.js's helpers.
"use strict";

Object.assign(UI.fr, {
  new_call: "Nouvel appel", call_category: "Catégorie", call_sex: "Sexe", call_age: "Âge estimé",
  call_count: "Personnes", call_commune: "Commune", call_lat: "Latitude", call_lon: "Longitude",
  call_landmark: "Repère", call_notes: "Notes", call_phone: "Rappel (téléphone)", call_caller: "Appelant",
  call_channel: "Canal", call_language: "Langue", call_map_hint: "Un clic sur la carte place l'appel (la zone suit).",
  call_nearby: "Cas ouverts à proximité : même personne ?", call_send: "Envoyer l'appel",
  call_ok: "Appel valide.", call_link: "Même personne : lier", call_new_case: "Nouveau cas",
  call_linked_to: "Appel lié au cas", call_will_open: "Cet appel ouvrira un nouveau cas.",
  call_sent: "Appel envoyé : ", call_replayed: " (déjà reçu : un seul signalement)", call_sending: "Envoi…",
  call_already_sent: "Cet appel est déjà envoyé tel qu'il était : pour un autre appel, Alt+N ; pour compléter, « Ajouter une information » sur son cas.",
  call_ago: "il y a", call_calls: "appel(s) lié(s)", call_other_category: "autre catégorie",
  set_priority: "Changer la priorité", linked_calls: "Autres appels sur cette personne",
  statistics: "Statistiques", choose_bed: "Choisir le lit", best_shelter: "Meilleur centre (automatique)",
  add_information: "Ajouter une information (appel lié)",
  channel_hotline: "ligne d'urgence", channel_partner_app: "application partenaire", channel_street_patrol: "maraude",
  channel_police: "police", channel_health_services: "services de santé", channel_other: "autre",
  language_ar: "arabe", language_ary: "darija", language_fr: "français", language_zgh: "amazighe",
  language_es: "espagnol", language_en: "anglais",
  factor_injury: "blessure", factor_pregnancy: "grossesse", factor_disability: "handicap",
  factor_alone_at_night: "seul(e) la nuit", factor_violence_in_progress: "violence en cours",
  factor_immediate_danger: "danger immédiat", factor_mental_distress: "détresse psychique",
  factor_with_children: "avec des enfants", factor_cold_exposure: "exposé(e) au froid", factor_illness: "maladie",
  factor_substance_use: "solvants, alcool, drogues", factor_begging_exploitation: "mendicité forcée",
  factor_deceased: "peut-être décédé(e)", factor_psychiatric_emergency: "urgence psychiatrique",
  factor_danger_to_others: "danger pour autrui", factor_heat_exposure: "exposé(e) à la chaleur",
  factor_migrant: "migrant(e)", factor_wheelchair: "fauteuil roulant",
});

Object.assign(UI.ar, {
  new_call: "مكالمة جديدة", call_category: "الفئة", call_sex: "الجنس", call_age: "السن التقديري",
  call_count: "عدد الأشخاص", call_commune: "الجماعة", call_lat: "خط العرض", call_lon: "خط الطول",
  call_landmark: "علامة مميزة", call_notes: "ملاحظات", call_phone: "رقم معاودة الاتصال", call_caller: "المتصل",
  call_channel: "القناة", call_language: "اللغة", call_map_hint: "نقرة على الخريطة تحدد مكان البلاغ (والمنطقة تتبعه).",
  call_nearby: "حالات مفتوحة قريبة: نفس الشخص؟", call_send: "إرسال البلاغ",
  call_ok: "البلاغ صالح.", call_link: "نفس الشخص: ربط", call_new_case: "حالة جديدة",
  call_linked_to: "البلاغ مرتبط بالحالة", call_will_open: "هذا البلاغ سيفتح حالة جديدة.",
  call_sent: "تم إرسال البلاغ: ", call_replayed: " (سبق استلامه: بلاغ واحد فقط)", call_sending: "جار الإرسال…",
  call_already_sent: "هذا البلاغ أُرسل كما كان: لبلاغ آخر، Alt+N؛ للإضافة، «إضافة معلومة» في حالته.",
  call_ago: "منذ", call_calls: "مكالمة مرتبطة", call_other_category: "فئة أخرى",
  set_priority: "تغيير الأولوية", linked_calls: "مكالمات أخرى حول هذا الشخص",
  statistics: "إحصائيات", choose_bed: "اختيار السرير", best_shelter: "أفضل مركز (تلقائي)",
  add_information: "إضافة معلومة (مكالمة مرتبطة)",
  channel_hotline: "الخط الهاتفي", channel_partner_app: "تطبيق شريك", channel_street_patrol: "دورية ميدانية",
  channel_police: "الشرطة", channel_health_services: "المصالح الصحية", channel_other: "أخرى",
  language_ar: "العربية", language_ary: "الدارجة", language_fr: "الفرنسية", language_zgh: "الأمازيغية",
  language_es: "الإسبانية", language_en: "الإنجليزية",
  factor_injury: "إصابة", factor_pregnancy: "حمل", factor_disability: "إعاقة",
  factor_alone_at_night: "وحيد(ة) ليلا", factor_violence_in_progress: "عنف جار",
  factor_immediate_danger: "خطر وشيك", factor_mental_distress: "ضائقة نفسية",
  factor_with_children: "مع أطفال", factor_cold_exposure: "معرض(ة) للبرد", factor_illness: "مرض",
  factor_substance_use: "مذيبات أو كحول أو مخدرات", factor_begging_exploitation: "تسول قسري",
  factor_deceased: "ربما متوفى", factor_psychiatric_emergency: "حالة نفسية طارئة",
  factor_danger_to_others: "خطر على الغير", factor_heat_exposure: "معرض(ة) للحرارة",
  factor_migrant: "مهاجر(ة)", factor_wheelchair: "كرسي متحرك",
});

const CALL_CATEGORIES = ["child_street_situation", "homeless_adult", "isolated_elderly", "woman_violence_victim",
  "person_with_disability", "mental_distress"];
const CALL_FACTORS = ["injury", "pregnancy", "disability", "alone_at_night", "violence_in_progress", "immediate_danger",
  "mental_distress", "with_children", "cold_exposure", "illness", "substance_use", "begging_exploitation", "deceased",
  "psychiatric_emergency", "danger_to_others", "heat_exposure", "migrant", "wheelchair"];
const CALL_CHANNELS = ["hotline", "partner_app", "street_patrol", "police", "health_services", "other"];
const CALL_LANGUAGES = ["ary", "ar", "fr", "zgh", "es", "en"];

// The call being taken: its report id and time, made once when the call starts.
const call = { id: null, reportedAt: null, linked: null, communes: null, checkTimer: null, nearbyKey: "", sent: null };

function options(node, values, text, blank) {
  const chosen = node.value;
  node.replaceChildren(...(blank ? [el("option", { value: "", text: "—" })] : []),
    ...values.map((value) => el("option", { value, text: text(value) })));
  if ([...node.options].some((o) => o.value === chosen)) node.value = chosen;
}

function fillCallForm() {
  options($("call-category"), CALL_CATEGORIES, (c) => label("beneficiary_category", c));
  options($("call-sex"), ["unknown", "male", "female"], (s) => t("sex_" + s));
  options($("call-channel"), CALL_CHANNELS, (c) => t("channel_" + c));
  options($("call-language"), CALL_LANGUAGES, (c) => t("language_" + c), true);
  options($("act-priority"), ["P1", "P2", "P3", "P4"], (p) => p);
  options($("act-bed-type"), ["men", "women", "women_with_children", "minors", "elderly"], (b) => label("bed_type", b));
  const box = $("call-factors");
  const ticked = new Set([...box.querySelectorAll("input:checked")].map((i) => i.value));
  box.replaceChildren(el("legend", { text: t("told_factors") }), ...CALL_FACTORS.map((factor) =>
    el("label", { class: "factor" },
      el("input", { type: "checkbox", value: factor, checked: ticked.has(factor), "data-factor": factor }),
      " " + t("factor_" + factor))));
  if (state.me) {
    options($("call-zone"), state.me.account.zones, (z) => label("zone", z));
    $("new-call").hidden = !["operator", "supervisor"].includes(state.me.account.role);
  }
  if (call.communes) {
    $("call-communes").replaceChildren(...call.communes.map((c) =>
      el("option", { value: state.lang === "ar" ? c.name_ar : c.name_fr, text: label("zone", c.zone) })));
  }
}

// "Add information" on a case: a call linked to it, where it is, of its category.
function addInformation() {
  const item = state.board && state.board.cases.find((c) => c.case_id === state.selected);
  if (!item) return;
  openCall().then(() => {
    $("call-zone").value = item.zone;
    $("call-category").value = item.category;
    if (item.lat != null) { $("call-lat").value = String(item.lat); $("call-lon").value = String(item.lon); }
    call.linked = item.case_id;
    renderLink();
    checkCall();
  });
}

async function openCall() {
  if (!call.communes) {
    try { call.communes = await api("/api/communes"); } catch (error) { call.communes = []; }
  }
  $("call-form").reset();
  $("call-count").value = "1";
  call.id = crypto.randomUUID();
  call.reportedAt = new Date().toISOString();
  call.linked = null;
  call.sent = null;
  call.nearbyKey = "";
  $("call-form").hidden = false;
  $("call-form").dataset.reportId = call.id;
  $("call-status").textContent = "";
  $("call-status").dataset.outcome = "";
  $("call-submit").disabled = false;
  fillCallForm();
  renderNearby([]);
  renderLink();
  checkCall();
  $("call-category").focus();
}

function closeCall() {
  $("call-form").hidden = true;
  call.id = null;
}

// The report event as the form stands (fields left empty are left out).
function buildReport() {
  const number = (id) => { const v = $(id).value.trim().replace(",", "."); return v === "" ? undefined : Number(v); };
  const text = (id) => { const v = $(id).value.trim(); return v === "" ? undefined : v; };
  const factors = [...$("call-factors").querySelectorAll("input:checked")].map((i) => i.value);
  const phone = text("call-phone"), caller = text("call-caller");
  const report = {
    schema_version: 3, event_id: call.id, reported_at: call.reportedAt, zone: $("call-zone").value,
    category: $("call-category").value,
    location: { lat: number("call-lat"), lon: number("call-lon"), commune: text("call-commune"), description: text("call-landmark") },
    person: { sex: $("call-sex").value, age: number("call-age"), count: number("call-count") },
    factors: factors.length ? factors : undefined, channel: $("call-channel").value, language: text("call-language"),
    notes: text("call-notes"), reporter: phone || caller ? { name: caller, phone } : undefined,
    linked_case_id: call.linked || undefined,
  };
  return JSON.parse(JSON.stringify(report));
}

function scheduleCheck() {
  clearTimeout(call.checkTimer);
  call.checkTimer = setTimeout(checkCall, 250);
}

async function checkCall() {
  if (!call.id) return;
  const node = $("call-check");
  for (const field of $("call-form").querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
  try {
    const checked = await api("/api/calls/check", { method: "POST", body: buildReport() });
    node.className = "status applied";
    node.dataset.valid = "true";
    node.dataset.field = "";
    node.textContent = t("call_ok") + (checked.flags.length ? " ⚠ " + checked.flags.map((f) => t("flag_" + f)).join(" · ") : "");
    if (checked.zone_at_position && checked.zone_at_position !== $("call-zone").value) {
      $("call-zone").value = checked.zone_at_position;
      scheduleCheck();
    }
  } catch (error) {
    node.className = "status rejected";
    node.dataset.valid = "false";
    node.dataset.field = error.field || "";
    node.textContent = error.message;
    const input = { "/category": "call-category", "/zone": "call-zone", "/location/lat": "call-lat",
      "/location/lon": "call-lon", "/location": "call-lat", "/person/age": "call-age", "/person/count": "call-count",
      "/reporter/phone": "call-phone", "/notes": "call-notes", "/location/description": "call-landmark" }[error.field];
    if (input) $(input).setAttribute("aria-invalid", "true");
  }
  findNearby();
}

// Open cases nearby (distance and time window on the server), compatible categories first.
async function findNearby() {
  const lat = Number($("call-lat").value.replace(",", ".")), lon = Number($("call-lon").value.replace(",", "."));
  if (!$("call-lat").value || !$("call-lon").value || !Number.isFinite(lat) || !Number.isFinite(lon)) { renderNearby([]); return; }
  const key = `${lat.toFixed(4)},${lon.toFixed(4)},${$("call-category").value},${$("call-zone").value}`;
  if (key === call.nearbyKey) return;
  call.nearbyKey = key;
  try {
    const cases = await api(`/api/calls/nearby?lat=${lat}&lon=${lon}&category=${encodeURIComponent($("call-category").value)}&zone=${encodeURIComponent($("call-zone").value)}`);
    if (key === call.nearbyKey) renderNearby(cases);
  } catch (error) {
    call.nearbyKey = "";  // asked again at the next change
    renderNearby([]);
  }
}

function renderNearby(cases) {
  $("call-nearby").hidden = cases.length === 0;
  $("call-nearby-list").replaceChildren(...cases.map((item) => {
    const button = el("button", { type: "button", "data-link-case": item.case_id,
      text: call.linked === item.case_id ? t("call_new_case") : t("call_link") });
    button.addEventListener("click", () => {
      call.linked = call.linked === item.case_id ? null : item.case_id;
      renderNearby(cases);
      renderLink();
      scheduleCheck();
    });
    return el("li", { "data-case-id": item.case_id, "data-compatible": String(item.compatible),
      class: call.linked === item.case_id ? "linked" : "" },
      el("strong", { text: `${item.priority} · ${label("beneficiary_category", item.category)} ` }),
      el("span", { class: "meta", text: `${item.distance_m} m · ${t("call_ago")} ${duration(since(item.opened_at))} · ${label("case_state", item.status)}`
        + (item.unit_id ? ` · ${item.unit_id}` : "") + (item.linked_calls ? ` · ${item.linked_calls} ${t("call_calls")}` : "")
        + (item.compatible ? "" : ` · ${t("call_other_category")}`) + " " }),
      button);
  }));
}

function renderLink() {
  const node = $("call-link");
  node.dataset.linked = call.linked || "";
  node.textContent = call.linked ? `${t("call_linked_to")} ${call.linked.slice(0, 8)}` : t("call_will_open");
}

// A click on the map (app.js) while a call is being taken: its position, and the zone follows.
function placeCall(lat, lon) {
  if (!call.id || $("call-form").hidden) return;
  $("call-lat").value = lat.toFixed(5);
  $("call-lon").value = lon.toFixed(5);
  checkCall();
}

function pickCommune() {
  const name = $("call-commune").value.trim();
  const commune = (call.communes || []).find((c) => c.name_fr === name || c.name_ar === name);
  if (!commune) return;
  $("call-zone").value = commune.zone;
  $("call-lat").value = String(commune.lat);
  $("call-lon").value = String(commune.lon);
}

async function sendCall(event) {
  event.preventDefault();
  if (!call.id) return;
  const node = $("call-status");
  $("call-submit").disabled = true;
  node.className = "status";
  node.dataset.outcome = "sending";
  node.textContent = t("call_sending");
  try {
    // The same id on every attempt: the server publishes it once and answers a retry alike.
    const sent = await api("/api/calls", { method: "POST", body: buildReport() });
    call.sent = sent;
    node.className = "status applied";
    node.dataset.outcome = sent.replayed ? "replayed" : "accepted";
    node.dataset.reportId = sent.report_id;
    node.textContent = t("call_sent") + sent.report_id.slice(0, 8) + (sent.replayed ? t("call_replayed") : "");
  } catch (error) {
    node.className = "status rejected";
    node.dataset.outcome = "error";
    // The form changed after its call was sent: that call stands as sent; what was added is a
    // new call (Alt+N), or information added to its case.
    node.textContent = call.sent && error.status === 422 && /Idempotency-Key/.test(error.message)
      ? t("call_already_sent") : t("error") + error.message;
  } finally {
    $("call-submit").disabled = false;
  }
  // The case the call was added to, in the detail beside the form.
  if (call.sent && call.sent.linked_case_id) select(call.sent.linked_case_id);
}

document.addEventListener("DOMContentLoaded", () => {
  $("new-call").addEventListener("click", openCall);
  $("call-close").addEventListener("click", closeCall);
  $("call-form").addEventListener("submit", sendCall);
  $("call-form").addEventListener("input", (event) => {
    if (event.target.id === "call-commune") pickCommune();
    scheduleCheck();
  });
  $("call-form").addEventListener("change", scheduleCheck);
  $("call-form").addEventListener("keydown", (event) => { if (event.key === "Escape") closeCall(); });
  // Keyboard first: Alt+N starts a call from anywhere on the board.
  document.addEventListener("keydown", (event) => {
    if (event.altKey && (event.key === "n" || event.key === "N") && !$("board-view").hidden && !$("new-call").hidden) {
      event.preventDefault();
      openCall();
    }
  });
  $("act-set-priority").addEventListener("click", () => send("set_priority", { priority: $("act-priority").value }));
  $("act-bed-type").addEventListener("change", () => renderDetail());
  $("act-choose-bed").addEventListener("click", () =>
    send("choose_bed", { bed_type: $("act-bed-type").value, shelter_id: $("act-shelter").value || undefined }));
  $("act-add-information").addEventListener("click", addInformation);
});

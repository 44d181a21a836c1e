// samu operator console: the board of a zone or a region, live through server-sent events.
// Plain JavaScript served by samu; no build step, no third-party code.
"use strict";

const UI = {
  fr: {
    title: "SAMU social — tableau de dispatch", scope: "Zone", all_zones: "Toutes mes zones",
    region: "Région", login: "Connexion", operator_id: "Identifiant", password: "Mot de passe",
    sign_in: "Se connecter", login_failed: "Identifiant ou mot de passe incorrect.", logout: "Déconnexion",
    open_cases: "Cas ouverts", map: "Carte", legend_case: "cas", legend_unit: "unité",
    legend_shelter: "centre", unmet: "Demande non satisfaite cette nuit", units: "Unités",
    shelters: "Centres d'hébergement", takes_women: "femmes seulement", takes_men: "hommes seulement",
    takes_ages: "âges", takes_wheelchair: "accès fauteuil roulant", takes_confidential: "adresse confidentielle",
    takes: "Accueille", claim: "Prendre en charge", release: "Libérer", reason: "Motif",
    show_personal: "Afficher les données personnelles (consultation journalisée)",
    flag_reported_in_future: "heure du signalement dans le futur", flag_reported_long_ago: "signalé il y a plus d'un jour",
    flag_outside_zone: "position hors de la zone",
    why_priority: "Pourquoi cette priorité", told_place: "Lieu", told_commune: "Commune", told_person: "Personne",
    told_factors: "Facteurs", told_channel: "Canal", told_language: "Langue", told_callback: "Rappel",
    told_reported: "Signalé le", persons: "personne(s)", age_years: "ans", sex_male: "homme", sex_female: "femme",
    sex_unknown: "sexe inconnu",
    reassign: "Réaffecter", close: "Clôturer", cancel: "Annuler le cas", mutual_aid: "Demander l'entraide",
    decisions: "Décisions", timeline: "Historique", best_unit: "Meilleure unité disponible (automatique)",
    waiting_for_unit: "en attente d'une unité", waiting_for_bed: "sans lit", no_bed_tonight: "sans lit cette nuit (clôturés)",
    zone: "Zone", unit: "Unité", status: "Statut", last_position: "Dernière position", case: "Cas",
    shelter: "Centre", beds: "Lits (libres / réservés / occupés)", last_update: "Mise à jour",
    stale: "compte périmé", devices: "Téléphones", enrol_device: "Enrôler un téléphone",
    enrol_code: "Code à saisir sur le téléphone (valable 15 min, affiché une seule fois) : ", revoke: "Révoquer",
    revoked: "révoqué", enrolled_at: "enrôlé le", seen_at: "vu",
    claimed_by: "Pris en charge par", not_claimed: "Personne ne l'a pris en charge.", you: "vous",
    sent: "Envoyé ; en attente du worker…", applied: "Appliqué.", rejected: "Refusé : ",
    ago: "il y a", live: "en direct", offline: "hors ligne", unit_none: "—", candidates: "candidats",
    rules: "règles", travel: "trajet", priority: "Priorité", category: "Catégorie", bed: "Lit",
    opened: "Ouvert", no_cases: "Aucun cas ouvert.", operator: "opérateur", supervisor: "superviseur",
    error: "Erreur : ",
    social_path: "Parcours social", record_step: "Enregistrer l'étape", take_follow_up: "Prendre le suivi",
    complete_follow_up: "Suivi fait", follow_ups: "Suivis et re-visites", no_follow_ups: "Aucun suivi en attente.",
    due: "Échéance", assignee: "Pris par", kind: "Type", overdue: "en retard", follow_up_none: "Aucune tâche de suivi.",
    follow_up_done: "Fait", task_revisit: "re-visite de nuit", task_follow_up: "suivi de jour",
    visit_done: "Fait : aide apportée ou rien de plus à faire", visit_help_refused: "Refuse encore : re-visite demain soir",
    visit_person_not_found: "Personne introuvable : re-visite demain soir", refusals: "Refus",
    refused_times: "aide refusée {n} fois", visits: "visites sans suite", escalated: "transmis aux superviseurs à",
    step_reception: "Accueil", step_listening: "Écoute", step_diagnosis: "Diagnostic",
    step_orientation: "Orientation", step_follow_up: "Suivi", derived: "d'après l'historique",
    referrals: "Signalements de protection de l'enfance", no_referrals: "Aucun signalement en attente.",
    acknowledge_referral: "Accuser réception du signalement", decide_referral: "Enregistrer la décision",
    referral: "Signalement", destination: "Destinataire", late: "en retard — transmis aux superviseurs",
    referral_none: "Pas de signalement de protection de l'enfance.", child_protection: "protection de l'enfance",
    "dest_public_prosecutor": "Procureur du Roi", "dest_hospital_child_protection_unit": "Unité hospitalière de protection de l'enfance",
    "dest_provincial_child_protection_committee": "Comité provincial de protection de l'enfance", "dest_family_tracing": "Recherche de la famille",
    "rstatus_open": "en attente", "rstatus_acknowledged": "reçu", "rstatus_decided": "décidé",
    alert_referral_late: "Signalement d'un enfant non reçu à temps", alert_late_by: "en retard de",
    alert_dismiss: "Vu", alert_open: "Ouvrir le cas",
    "dec_family_reunification": "Retour en famille", "dec_child_protection_centre": "Centre de protection de l'enfance",
    "dec_social_welfare_institution": "Établissement de protection sociale", "dec_foster_care": "Kafala ou famille d'accueil",
    "dec_medical_care": "Prise en charge médicale", "dec_no_protection_measure": "Pas de mesure de protection",
  },
  ar: {
    title: "الإسعاف الاجتماعي المتنقل — لوحة التوجيه", scope: "المنطقة", all_zones: "كل مناطقي",
    region: "الجهة", login: "تسجيل الدخول", operator_id: "المعرف", password: "كلمة المرور",
    sign_in: "دخول", login_failed: "المعرف أو كلمة المرور غير صحيحة.", logout: "خروج",
    open_cases: "الحالات المفتوحة", map: "الخريطة", legend_case: "حالة", legend_unit: "وحدة",
    legend_shelter: "مركز", unmet: "الطلب غير الملبى هذه الليلة", units: "الوحدات",
    shelters: "مراكز الإيواء", takes_women: "للنساء فقط", takes_men: "للرجال فقط",
    takes_ages: "الأعمار", takes_wheelchair: "مهيأ للكراسي المتحركة", takes_confidential: "عنوان سري",
    takes: "يستقبل", claim: "تولي الحالة", release: "التخلي عن الحالة", reason: "السبب",
    show_personal: "عرض المعطيات الشخصية (اطلاع مسجل)",
    flag_reported_in_future: "وقت التبليغ في المستقبل", flag_reported_long_ago: "بُلّغ عنه منذ أكثر من يوم",
    flag_outside_zone: "الموقع خارج المنطقة",
    why_priority: "لماذا هذه الأولوية", told_place: "المكان", told_commune: "الجماعة", told_person: "الشخص",
    told_factors: "العوامل", told_channel: "القناة", told_language: "اللغة", told_callback: "رقم الاتصال",
    told_reported: "تاريخ التبليغ", persons: "شخص", age_years: "سنة", sex_male: "ذكر", sex_female: "أنثى",
    sex_unknown: "جنس غير معروف",
    reassign: "إعادة التعيين", close: "إغلاق الحالة", cancel: "إلغاء الحالة", mutual_aid: "طلب الدعم من منطقة مجاورة",
    decisions: "القرارات", timeline: "السجل", best_unit: "أفضل وحدة متاحة (تلقائيا)",
    waiting_for_unit: "في انتظار وحدة", waiting_for_bed: "بدون سرير", no_bed_tonight: "بدون سرير هذه الليلة (مغلقة)",
    zone: "المنطقة", unit: "الوحدة", status: "الحالة", last_position: "آخر موقع", case: "الحالة",
    shelter: "المركز", beds: "الأسرة (شاغرة / محجوزة / مشغولة)", last_update: "آخر تحديث",
    stale: "عدد متقادم", devices: "الهواتف", enrol_device: "تسجيل هاتف",
    enrol_code: "الرمز الذي يُدخل في الهاتف (صالح 15 دقيقة، يُعرض مرة واحدة): ", revoke: "إلغاء",
    revoked: "ملغى", enrolled_at: "سُجل في", seen_at: "آخر ظهور",
    claimed_by: "يتولاها", not_claimed: "لم يتولها أحد بعد.", you: "أنت",
    sent: "أُرسل؛ في انتظار التطبيق…", applied: "طُبّق.", rejected: "رُفض: ",
    ago: "منذ", live: "مباشر", offline: "غير متصل", unit_none: "—", candidates: "المرشحون",
    rules: "القواعد", travel: "المسافة الزمنية", priority: "الأولوية", category: "الفئة", bed: "السرير",
    opened: "فُتحت", no_cases: "لا توجد حالات مفتوحة.", operator: "مشغل", supervisor: "مشرف",
    error: "خطأ: ",
    social_path: "المسار الاجتماعي", record_step: "تسجيل المرحلة", take_follow_up: "تولي المتابعة",
    complete_follow_up: "أُنجزت المتابعة", follow_ups: "المتابعات والزيارات المتجددة", no_follow_ups: "لا توجد متابعات معلقة.",
    due: "الأجل", assignee: "المكلف", kind: "النوع", overdue: "متأخرة", follow_up_none: "لا توجد مهمة متابعة.",
    follow_up_done: "أُنجزت", task_revisit: "زيارة ليلية متجددة", task_follow_up: "متابعة نهارية",
    visit_done: "أُنجزت: قُدمت المساعدة أو لا شيء آخر", visit_help_refused: "رفض مجددا: زيارة مساء الغد",
    visit_person_not_found: "لم يُعثر على الشخص: زيارة مساء الغد", refusals: "الرفض",
    refused_times: "رُفضت المساعدة {n} مرات", visits: "زيارات دون نتيجة", escalated: "أُحيلت على المشرفين على الساعة",
    step_reception: "الاستقبال", step_listening: "الإنصات", step_diagnosis: "التشخيص",
    step_orientation: "التوجيه", step_follow_up: "التتبع", derived: "من السجل",
    referrals: "إحالات حماية الطفولة", no_referrals: "لا توجد إحالات معلقة.",
    acknowledge_referral: "الإشعار بالتوصل بالإحالة", decide_referral: "تسجيل القرار",
    referral: "الإحالة", destination: "الجهة المحال عليها", late: "متأخرة — أُحيلت على المشرفين",
    referral_none: "لا توجد إحالة لحماية الطفولة.", child_protection: "حماية الطفولة",
    "dest_public_prosecutor": "وكيل الملك", "dest_hospital_child_protection_unit": "الوحدة الاستشفائية لحماية الطفولة",
    "dest_provincial_child_protection_committee": "اللجنة الإقليمية لحماية الطفولة", "dest_family_tracing": "البحث عن الأسرة",
    "rstatus_open": "في الانتظار", "rstatus_acknowledged": "تم التوصل", "rstatus_decided": "تم البت",
    alert_referral_late: "إحالة طفل لم يُتوصل بها في أجلها", alert_late_by: "متأخرة بـ",
    alert_dismiss: "اطّلعت", alert_open: "فتح الحالة",
    "dec_family_reunification": "الإرجاع إلى الأسرة", "dec_child_protection_centre": "مركز حماية الطفولة",
    "dec_social_welfare_institution": "مؤسسة الرعاية الاجتماعية", "dec_foster_care": "الكفالة أو أسرة مستقبلة",
    "dec_medical_care": "التكفل الطبي", "dec_no_protection_measure": "لا تدبير حمائي",
  },
};

const STEPS = ["reception", "listening", "diagnosis", "orientation", "follow_up"];
const VISIT_OUTCOMES = ["done", "help_refused", "person_not_found"];
const DECISIONS = ["family_reunification", "child_protection_centre", "social_welfare_institution", "foster_care",
  "medical_care", "no_protection_measure"];

const RESOLUTIONS = ["sheltered", "taken_to_hospital", "referred_child_protection", "referred_police",
  "referred_family", "help_refused", "person_not_found", "no_bed_tonight", "deceased"];

const state = {
  lang: localStorage.getItem("samu.lang") || "fr",
  me: null, csrf: null, labels: {}, board: null, selected: null, detail: null,
  source: null, pending: new Map(), commandIDs: new Map(), scope: localStorage.getItem("samu.scope") || "",
};

const $ = (id) => document.getElementById(id);
const t = (key) => (UI[state.lang] && UI[state.lang][key]) || UI.fr[key] || key;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else if (key === "text") node.textContent = value;
    else node[key] = value;
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

// Names from seeds/ (ref_zones, ref_regions, ref_labels, vocabulary.json), in the page's language.
function label(kind, code) {
  if (code === null || code === undefined) return "—";
  const lang = state.lang;
  const byKind = state.labels[kind];
  if (byKind && byKind[code]) return byKind[code][lang] || byKind[code].fr || code;
  const vocabulary = state.labels.vocabulary || {};
  const prefix = { case_state: "case_state_", unit_status: "unit_status_", resolution: "resolution_" }[kind];
  if (prefix && vocabulary[prefix + code]) return vocabulary[prefix + code][lang] || code;
  return code;
}

function duration(seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  return h > 0 ? `${h} h ${String(m).padStart(2, "0")}` : `${m}:${String(s).padStart(2, "0")}`;
}

function since(iso) { return (Date.now() - Date.parse(iso)) / 1000; }

async function api(path, options = {}) {
  const headers = Object.assign({ "Accept": "application/json" }, options.headers || {});
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.method && options.method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
  const response = await fetch(path, {
    method: options.method || "GET", headers, credentials: "same-origin",
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  const body = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = new Error((body && (body.detail || body.title)) || response.statusText);
    error.status = response.status;
    error.field = body && body.field;
    throw error;
  }
  return body;
}

// ---- language -------------------------------------------------------------------------------

function applyLanguage() {
  document.documentElement.lang = state.lang;
  document.documentElement.dir = state.lang === "ar" ? "rtl" : "ltr";
  document.title = t("title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
  $("lang").textContent = state.lang === "ar" ? "Français" : "العربية";
  setConnection($("connection").dataset.state === "live");
  if (state.me) {
    $("who").textContent = `${state.me.account.display_name} (${t(state.me.account.role)})`;
    fillScope();
    fillResolutions();
    if (typeof fillCallForm === "function") fillCallForm();
    $("statistics-link").href = `/api/statistics.html?lang=${state.lang}`;
    $("statistics-link").hidden = !["operator", "supervisor"].includes(state.me.account.role);
  }
  render();
}

// ---- login ----------------------------------------------------------------------------------

async function start() {
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "ar" ? "fr" : "ar";
    localStorage.setItem("samu.lang", state.lang);
    applyLanguage();
  });
  $("login-form").addEventListener("submit", logIn);
  $("logout").addEventListener("click", logOut);
  $("scope").addEventListener("change", () => {
    state.scope = $("scope").value;
    localStorage.setItem("samu.scope", state.scope);
    connect();
  });
  $("detail-close").addEventListener("click", () => select(null));
  $("show-personal").addEventListener("click", showPersonal);
  $("act-claim").addEventListener("click", () => send("claim"));
  $("act-release").addEventListener("click", () => send("release"));
  $("act-reassign").addEventListener("click", () => send("reassign", { unit_id: $("act-unit").value || undefined }));
  $("act-close").addEventListener("click", () => send("close", { resolution: $("act-resolution").value }));
  $("act-record-step").addEventListener("click", () => send("record_step", { step: $("act-step").value }));
  $("act-take-follow-up").addEventListener("click", () => send("take_follow_up"));
  $("act-complete-follow-up").addEventListener("click", () =>
    send("complete_follow_up", { visit_outcome: $("act-visit-outcome").value }));
  $("act-acknowledge").addEventListener("click", () => send("acknowledge_referral"));
  $("act-decide").addEventListener("click", () => send("decide_referral", { decision: $("act-decision").value }));
  $("act-cancel").addEventListener("click", () => send("cancel"));
  $("act-mutual-aid").addEventListener("click", () => send("mutual_aid"));
  setUpMap();
  setInterval(tickClocks, 1000);
  applyLanguage();
  try {
    state.me = await api("/api/me");
    await enter();
  } catch (error) {
    showLogin();
  }
}

function showLogin() {
  // Nothing of the previous account stays in the page (a shared workstation).
  if (state.source) { state.source.close(); state.source = null; }
  state.me = null; state.csrf = null; state.board = null; state.selected = null; state.detail = null;
  state.pending.clear();
  for (const id of ["cases", "units", "shelters", "unmet", "follow-ups", "referrals", "detail-decisions", "detail-timeline", "detail-path", "alerts"]) $(id).replaceChildren();
  $("alerts").hidden = true;
  $("detail").hidden = true;
  $("login-view").hidden = false;
  $("board-view").hidden = true;
  $("logout").hidden = true;
  $("who").textContent = "";
}

async function logIn(event) {
  event.preventDefault();
  $("login-error").hidden = true;
  try {
    await api("/api/login", { method: "POST", body: { operator_id: $("login-id").value, password: $("login-password").value } });
    $("login-password").value = "";
    state.me = await api("/api/me");
    await enter();
  } catch (error) {
    $("login-error").hidden = false;
  }
}

async function logOut() {
  try { await api("/api/logout", { method: "POST", body: {} }); } catch (error) { /* gone already */ }
  showLogin();
}

async function enter() {
  state.csrf = state.me.csrf_token;
  state.labels = await api("/api/labels");
  state.outlines = await api("/api/outlines").catch(() => ({}));
  $("login-view").hidden = true;
  $("board-view").hidden = false;
  $("logout").hidden = false;
  applyLanguage();
  connect();
}

function fillScope() {
  const select = $("scope");
  const zones = state.me.account.zones;
  const regions = [...new Set(zones.map((zone) => state.me.regions[zone]).filter(Boolean))].sort();
  select.replaceChildren(el("option", { value: "", text: t("all_zones") }));
  for (const region of regions) {
    select.append(el("option", { value: "region:" + region, text: `${t("region")} : ${label("region", region)}` }));
  }
  for (const zone of zones) select.append(el("option", { value: "zone:" + zone, text: label("zone", zone) }));
  if (![...select.options].some((option) => option.value === state.scope)) state.scope = "";
  select.value = state.scope;
}

function fillResolutions() {
  const resolution = $("act-resolution").value;
  $("act-resolution").replaceChildren(...RESOLUTIONS.map((code) => el("option", { value: code, text: label("resolution", code) })));
  if (resolution) $("act-resolution").value = resolution;
  const step = $("act-step").value;
  $("act-step").replaceChildren(...STEPS.map((code) => el("option", { value: code, text: t("step_" + code) })));
  if (step) $("act-step").value = step;
  const outcome = $("act-visit-outcome").value;
  $("act-visit-outcome").replaceChildren(...VISIT_OUTCOMES.map((code) => el("option", { value: code, text: t("visit_" + code) })));
  if (outcome) $("act-visit-outcome").value = outcome;
  const decision = $("act-decision").value;
  $("act-decision").replaceChildren(...DECISIONS.map((code) => el("option", { value: code, text: t("dec_" + code) })));
  if (decision) $("act-decision").value = decision;
}

// ---- live board -----------------------------------------------------------------------------

function scopeQuery() {
  if (state.scope.startsWith("zone:")) return "?zones=" + encodeURIComponent(state.scope.slice(5));
  if (state.scope.startsWith("region:")) return "?region=" + encodeURIComponent(state.scope.slice(7));
  return "";
}

function connect() {
  if (state.source) state.source.close();
  const source = new EventSource("/api/events" + scopeQuery());
  state.source = source;
  source.addEventListener("open", () => setConnection(true));
  source.addEventListener("error", async () => {
    setConnection(false);
    // A closed session ends the stream: back to the login form.
    try { await api("/api/me"); } catch (error) { if (error.status === 401) { source.close(); showLogin(); return; } }
    // The browser retries a dropped stream by itself, but gives up for good on an answer other
    // than 200 (too many streams for the session, a proxy's 502): the board is then opened
    // again here, after a pause, for as long as the session lives.
    if (source.readyState === EventSource.CLOSED && state.source === source) {
      clearTimeout(state.reconnectTimer);
      state.reconnectTimer = setTimeout(() => { if (state.source === source) connect(); }, 3000);
    }
  });
  source.addEventListener("board", (event) => {
    state.board = JSON.parse(event.data);
    document.body.dataset.boardAt = state.board.generated_at;
    // A command whose answer was lost is kept under its id for a retry until the worker applied or
    // refused it; after that the same command again is a new one.
    for (const [key, id] of state.commandIDs) {
      if ((state.board.commands || []).some((c) => c.event_id === id)) state.commandIDs.delete(key);
    }
    render();
    if (state.selected) loadDetail(state.selected);
  });
}

function setConnection(live) {
  const node = $("connection");
  node.dataset.state = live ? "live" : "off";
  node.textContent = live ? t("live") : t("offline");
}

function render() {
  if (!state.board || !state.me) return;
  renderCases();
  renderMap();
  renderUnmet();
  renderAlerts();
  renderReferrals();
  renderFollowUps();
  renderUnits();
  renderShelters();
  renderDetail();
}

function renderCases() {
  const list = $("cases");
  const cases = state.board.cases;
  $("case-count").textContent = state.board.cases_truncated ? `(${cases.length}+)` : `(${cases.length})`;
  if (cases.length === 0) { list.replaceChildren(el("li", { class: "meta", text: t("no_cases") })); return; }
  list.replaceChildren(...cases.map((item) => {
    const claimed = item.claimed_by
      ? el("span", { class: "badge claimed" + (item.claimed_by === state.me.account.id ? " mine" : ""),
        "data-claimed-by": item.claimed_by, text: `${t("claimed_by")} ${item.claimed_by}` })
      : null;
    const row = el("li", {
      class: `case ${item.priority || ""}${state.selected === item.case_id ? " selected" : ""}`,
      "data-case-id": item.case_id, "data-unit-id": item.unit_id || "", "data-status": item.status,
    },
    el("div", { class: "line" },
      el("span", { class: "prio", text: item.priority || "–" }),
      el("span", { text: label("beneficiary_category", item.category) }),
      el("span", { class: "wait", "data-waiting-since": item.reported_at, title: item.reported_at, text: duration(since(item.reported_at)) })),
    el("div", { class: "line meta" },
      el("span", { class: "case-status", text: label("case_state", item.status) }),
      el("span", { class: "case-unit", dir: "ltr", text: item.unit_id || t("unit_none") }),
      el("span", { text: label("zone", item.zone) })),
    claimed,
    // What not to trust without a look: a time far from now, a position far outside the zone.
    (item.flags || []).length
      ? el("div", { class: "flags", "data-flags": item.flags.join(" "), text: "⚠ " + item.flags.map((f) => t("flag_" + f)).join(" · ") })
      : null);
    row.addEventListener("click", () => select(item.case_id));
    return row;
  }));
}

function tickClocks() {
  for (const node of document.querySelectorAll("[data-waiting-since]")) node.textContent = duration(since(node.dataset.waitingSince));
  for (const node of document.querySelectorAll("[data-reported-at]")) {
    const age = since(node.dataset.reportedAt);
    node.textContent = `${t("ago")} ${duration(age)}`;
    node.classList.toggle("stale", age > 900);
  }
  for (const node of document.querySelectorAll("[data-late-since]")) {
    node.textContent = `${t("alert_late_by")} ${duration(since(node.dataset.lateSince))}`;
  }
  // A referral turns late at its deadline, without waiting for the next board.
  if (state.board && (state.board.referrals || []).some((r) => r.status === "open" && !r.late && Date.parse(r.due_at) < Date.now())) {
    renderReferrals();
  }
}

// A schematic map from the seeded coordinates: no tiles, an equirectangular projection of the
// points on the board (units, shelters, cases) with a margin.
// The map: the zones' outlines (the statistics office's boundaries), and on them the cases, the
// units and the shelters; the wheel zooms, a drag pans, a double click shows everything again.
function renderMap() {
  const map = $("map");
  const { cases, units, shelters } = state.board;
  const outlines = state.outlines || {};
  const zones = (state.board.zones || []).filter((zone) => outlines[zone]);
  const points = [...cases.filter((c) => c.lat !== null && c.lat !== undefined), ...units, ...shelters];
  const keep = map.querySelector("title");
  map.replaceChildren(keep);
  keep.textContent = t("map");
  const corners = points.map((p) => [p.lon, p.lat]);
  for (const zone of zones) for (const ring of outlines[zone]) for (const point of ring) corners.push(point);
  if (corners.length === 0) return;
  let minLat = Math.min(...corners.map((p) => p[1])), maxLat = Math.max(...corners.map((p) => p[1]));
  let minLon = Math.min(...corners.map((p) => p[0])), maxLon = Math.max(...corners.map((p) => p[0]));
  const pad = 0.01;
  minLat -= pad; maxLat += pad; minLon -= pad; maxLon += pad;
  const k = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
  const width = 600, height = 380, margin = 24;
  const scale = Math.min((width - 2 * margin) / ((maxLon - minLon) * k), (height - 2 * margin) / (maxLat - minLat));
  const x = (lon) => margin + (lon - minLon) * k * scale;
  const y = (lat) => height - margin - (lat - minLat) * scale;
  const view = state.mapView || { zoom: 1, dx: 0, dy: 0 };
  // From the SVG's units back to a position (a click places a call being taken).
  state.mapInverse = (sx, sy) => {
    const lx = (sx - view.dx) / view.zoom, ly = (sy - view.dy) / view.zoom;
    return [minLon + (lx - margin) / (k * scale), minLat + (height - margin - ly) / scale];
  };
  const layer = svg("g", { id: "map-layer", transform: `translate(${view.dx} ${view.dy}) scale(${view.zoom})` });
  map.append(layer);
  // Zones: outlined and named (in the page's language).
  for (const zone of zones) {
    const d = outlines[zone].map((ring) => "M" + ring.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("L") + "Z").join("");
    const path = svg("path", { d, class: "zone", "data-zone": zone, "vector-effect": "non-scaling-stroke" });
    path.append(svg("title"));
    path.firstChild.textContent = label("zone", zone);
    layer.append(path);
  }
  for (const zone of zones) {
    const ring = outlines[zone].reduce((a, b) => (b.length > a.length ? b : a));
    const cx = ring.reduce((sum, p) => sum + p[0], 0) / ring.length, cy = ring.reduce((sum, p) => sum + p[1], 0) / ring.length;
    const text = svg("text", { x: x(cx), y: y(cy), class: "zone-label", "data-zone-label": zone, "text-anchor": "middle",
      "font-size": (10 / view.zoom).toFixed(2) });
    text.textContent = label("zone", zone);
    layer.append(text);
  }
  const marker = 1 / view.zoom;
  for (const shelter of shelters) {
    const cx = x(shelter.lon), cy = y(shelter.lat), s = marker;
    const node = svg("polygon", { points: `${cx},${cy - 8 * s} ${cx - 7 * s},${cy + 5 * s} ${cx + 7 * s},${cy + 5 * s}`, fill: "#7a4fb3", "data-shelter-id": shelter.shelter_id });
    node.append(svg("title"));
    node.firstChild.textContent = shelter.shelter_id;
    layer.append(node);
  }
  const colors = { available: "#1b7f3b", en_route: "#e07b00", on_scene: "#c0262d", transporting: "#7a4fb3", returning: "#2f6fb3", off_duty: "#98a2b3" };
  for (const unit of units) {
    const node = svg("rect", { x: x(unit.lon) - 5 * marker, y: y(unit.lat) - 5 * marker, width: 10 * marker, height: 10 * marker, fill: colors[unit.status] || "#667085", "data-unit-id": unit.unit_id });
    node.append(svg("title"));
    node.firstChild.textContent = `${unit.unit_id} — ${label("unit_status", unit.status)}`;
    layer.append(node);
    const text = svg("text", { x: x(unit.lon) + 7 * marker, y: y(unit.lat) + 3 * marker, "font-size": (10 * marker).toFixed(2) });
    text.textContent = unit.unit_id.split("-").pop();
    layer.append(text);
  }
  const prio = { P1: "#c0262d", P2: "#e07b00", P3: "#2f6fb3", P4: "#6b7280" };
  for (const item of cases) {
    if (item.lat === null || item.lat === undefined) continue;
    const node = svg("circle", { class: "case-dot", cx: x(item.lon), cy: y(item.lat), r: 6 * marker, fill: prio[item.priority] || "#6b7280", "data-case-id": item.case_id, "vector-effect": "non-scaling-stroke" });
    node.append(svg("title"));
    node.firstChild.textContent = `${item.priority} ${label("beneficiary_category", item.category)}`;
    node.addEventListener("click", () => select(item.case_id));
    layer.append(node);
    if (item.case_id === state.selected) layer.append(svg("circle", { class: "selected-ring", cx: x(item.lon), cy: y(item.lat), r: 10 * marker, "vector-effect": "non-scaling-stroke" }));
  }
}

// Zoom and pan on the map (in the SVG's own units).
function setUpMap() {
  const map = $("map");
  const point = (event) => {
    const box = map.getBoundingClientRect();
    return [(event.clientX - box.left) * 600 / box.width, (event.clientY - box.top) * 380 / box.height];
  };
  map.addEventListener("wheel", (event) => {
    event.preventDefault();
    const view = state.mapView || { zoom: 1, dx: 0, dy: 0 };
    const [px, py] = point(event);
    const zoom = Math.min(64, Math.max(1, view.zoom * (event.deltaY < 0 ? 1.25 : 0.8)));
    // The point under the pointer stays where it is.
    state.mapView = { zoom, dx: px - (px - view.dx) * zoom / view.zoom, dy: py - (py - view.dy) * zoom / view.zoom };
    if (state.board) renderMap();
  }, { passive: false });
  let drag = null;
  map.addEventListener("pointerdown", (event) => { drag = { start: point(event), view: state.mapView || { zoom: 1, dx: 0, dy: 0 } }; });
  map.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const [px, py] = point(event);
    // A click is not a drag: the map is redrawn only once the pointer really moved.
    if (!drag.moved && Math.hypot(px - drag.start[0], py - drag.start[1]) < 4) return;
    drag.moved = true;
    state.mapView = { zoom: drag.view.zoom, dx: drag.view.dx + px - drag.start[0], dy: drag.view.dy + py - drag.start[1] };
    if (state.board) renderMap();
  });
  for (const name of ["pointerup", "pointerleave"]) {
    map.addEventListener(name, () => { state.mapDragged = Boolean(drag && drag.moved); drag = null; });
  }
  map.addEventListener("click", (event) => {
    if (state.mapDragged || !state.mapInverse || typeof placeCall !== "function") return;
    const [lon, lat] = state.mapInverse(...point(event));
    placeCall(lat, lon);
  });
  map.addEventListener("dblclick", () => { state.mapView = null; if (state.board) renderMap(); });
}

function table(node, headers, rows) {
  node.replaceChildren(el("tr", {}, ...headers.map((h) => el("th", { text: h }))), ...rows);
}

function renderUnmet() {
  table($("unmet"), [t("zone"), t("waiting_for_unit"), t("waiting_for_bed"), t("no_bed_tonight")],
    state.board.unmet.map((row) => el("tr", { "data-zone": row.zone },
      el("td", { text: label("zone", row.zone) }), el("td", { text: row.waiting_for_unit }),
      el("td", { text: row.waiting_for_bed }), el("td", { text: row.no_bed_tonight }))));
}

function when(iso) {
  return new Date(iso).toLocaleString(state.lang === "ar" ? "ar-MA" : "fr-MA", { dateStyle: "short", timeStyle: "short" });
}

// Children's referrals not decided yet; a late one (unacknowledged past its deadline) in red.
function renderReferrals() {
  const rows = (state.board.referrals || []).map((referral) => {
    referral.late = referral.late || (referral.status === "open" && Date.parse(referral.due_at) < Date.now());
    const row = el("tr", { "data-case-id": referral.case_id, "data-status": referral.status,
      "data-late": String(referral.late), "data-escalated": String(Boolean(referral.escalated_at)),
      class: referral.late ? "overdue" : "" },
      el("td", { text: referral.case_id.slice(0, 8) }), el("td", { text: t("dest_" + referral.destination) }),
      el("td", { text: t("rstatus_" + referral.status) }),
      el("td", { text: referral.due_local + (referral.late ? ` (${t("late")})` : "")
        + (referral.escalated_at ? ` — ${t("escalated")} ${when(referral.escalated_at)}` : "") }));
    row.addEventListener("click", () => select(referral.case_id));
    return row;
  });
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: "4", class: "meta", text: t("no_referrals") })));
  table($("referrals"), [t("case"), t("destination"), t("status"), t("due")], rows);
}

// A supervisor's alerts: each child's referral escalated to the supervisors (unacknowledged past
// its deadline, still open) in the board's zones stays at the top of the page until the receiving
// body acknowledges it or the supervisor dismisses it. A new escalation raises one as soon as the
// live board brings it. Dismissals are remembered in this browser, per account.
function dismissedAlertsKey() { return `samu.alerts.dismissed.${state.me.account.id}`; }

function dismissedAlerts() {
  try { return JSON.parse(localStorage.getItem(dismissedAlertsKey()) || "[]"); } catch (error) { return []; }
}

function alertKey(referral) { return `${referral.case_id}@${referral.escalated_at}`; }

function dismissAlert(referral) {
  const kept = dismissedAlerts().filter((key) => key !== alertKey(referral)).slice(-199);
  localStorage.setItem(dismissedAlertsKey(), JSON.stringify(kept.concat([alertKey(referral)])));
  renderAlerts();
}

function renderAlerts() {
  const panel = $("alerts");
  if (state.me.account.role !== "supervisor") { panel.replaceChildren(); panel.hidden = true; return; }
  const dismissed = new Set(dismissedAlerts());
  const escalated = (state.board.referrals || []).filter((referral) =>
    referral.status === "open" && referral.escalated_at && !dismissed.has(alertKey(referral)));
  panel.hidden = escalated.length === 0;
  panel.replaceChildren(...escalated.map((referral) => {
    const open = el("button", { type: "button", class: "quiet", text: t("alert_open") });
    open.addEventListener("click", () => select(referral.case_id));
    const dismiss = el("button", { type: "button", class: "dismiss", "data-dismiss": referral.case_id, text: t("alert_dismiss") });
    dismiss.addEventListener("click", () => dismissAlert(referral));
    return el("div", { class: "alert", "data-case-id": referral.case_id, "data-destination": referral.destination },
      el("strong", { text: t("alert_referral_late") }),
      el("span", { text: `${t("case")} ${referral.case_id.slice(0, 8)} — ${label("zone", referral.zone)}` }),
      el("span", { text: `${t("destination")} : ${t("dest_" + referral.destination)}` }),
      el("span", { "data-late-since": referral.due_at,
        text: `${t("alert_late_by")} ${duration(since(referral.due_at))}` }),
      el("span", { class: "meta", text: `${t("escalated")} ${when(referral.escalated_at)}` }),
      open, dismiss);
  }));
}

// Tasks cases left: a click opens the case (closed cases included).
function renderFollowUps() {
  const rows = (state.board.follow_ups || []).map((task) => {
    const late = Date.parse(task.due_at) < Date.now();
    const row = el("tr", { "data-case-id": task.case_id, "data-kind": task.kind, "data-refusals": String(task.refusals),
      class: late ? "overdue" : "" },
      el("td", { text: task.case_id.slice(0, 8) }), el("td", { text: t("task_" + task.kind) }),
      el("td", { text: task.due_local + (late ? ` (${t("overdue")})` : "") }),
      el("td", { text: task.assignee || "—" }),
      el("td", { text: task.refusals > 0 ? String(task.refusals) : "—", class: task.refusals > 1 ? "repeated" : "" }));
    row.addEventListener("click", () => select(task.case_id));
    return row;
  });
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: "5", class: "meta", text: t("no_follow_ups") })));
  table($("follow-ups"), [t("case"), t("kind"), t("due"), t("assignee"), t("refusals")], rows);
}

function renderUnits() {
  // A unit's case as dispatch sees it (the unit's own report may not have caught up yet).
  const assigned = new Map(state.board.cases.filter((c) => c.unit_id).map((c) => [c.unit_id, c.case_id]));
  const supervisor = state.me && state.me.account.role === "supervisor";
  table($("units"), [t("unit"), t("status"), t("case"), t("last_position")].concat(supervisor ? [t("devices")] : []),
    state.board.units.map((unit) => {
      const cells = [
        el("td", { text: unit.unit_id }), el("td", { text: label("unit_status", unit.status) }),
        el("td", { text: (assigned.get(unit.unit_id) || unit.case_id || "—").slice(0, 8) }),
        el("td", { "data-reported-at": unit.reported_at, text: `${t("ago")} ${duration(since(unit.reported_at))}` })];
      if (supervisor) {
        const button = el("button", { type: "button", class: "quiet", "data-enrol": unit.unit_id, text: t("devices") });
        button.addEventListener("click", () => showDevices(unit.unit_id));
        cells.push(el("td", {}, button));
      }
      return el("tr", { "data-unit-id": unit.unit_id }, ...cells);
    }));
}

// A supervisor enrols a unit's phone (a one-time code, shown once) and revokes its devices.
async function showDevices(unitID) {
  const panel = $("devices");
  panel.hidden = false;
  panel.dataset.unitId = unitID;
  const devices = await api(`/api/units/${unitID}/devices`);
  const enrol = el("button", { type: "button", id: "device-enrol", text: t("enrol_device") });
  enrol.addEventListener("click", async () => {
    const made = await api(`/api/units/${unitID}/enrolments`, { method: "POST", body: {} });
    $("device-code").dataset.code = made.code;
    $("device-code").textContent = `${t("enrol_code")}${made.code} — ${location.origin}${made.link}`;
  });
  const rows = devices.map((device) => {
    const revoke = el("button", { type: "button", class: "quiet", "data-revoke": device.device_id, text: t("revoke") });
    revoke.disabled = Boolean(device.revoked_at);
    revoke.addEventListener("click", async () => {
      await api(`/api/devices/${device.device_id}/revoke`, { method: "POST", body: {} });
      showDevices(unitID);
    });
    return el("li", { "data-device-id": device.device_id, "data-revoked": String(Boolean(device.revoked_at)) },
      el("span", { text: `${device.device_id} — ${t("enrolled_at")} ${when(device.enrolled_at)}`
        + (device.last_seen_at ? ` — ${t("seen_at")} ${when(device.last_seen_at)}` : "")
        + (device.revoked_at ? ` — ${t("revoked")}` : "") + " " }), revoke);
  });
  $("device-list").replaceChildren(...rows);
  $("device-title").textContent = `${t("devices")} — ${unitID}`;
  $("device-actions").replaceChildren(enrol);
}

function renderShelters() {
  const rows = [];
  for (const shelter of state.board.shelters) {
    const beds = shelter.beds.filter((bed) => bed.capacity > 0)
      .map((bed) => `${label("bed_type", bed.bed_type)} ${bed.free} / ${bed.held} / ${bed.occupied}`).join(" · ");
    // A count older than four hours may no longer be true: marked stale.
    const stale = since(shelter.reported_at) > 4 * 3600;
    rows.push(el("tr", { "data-shelter-id": shelter.shelter_id, "data-stale": String(stale), class: stale ? "overdue" : "" },
      el("td", { text: shelter.shelter_id }), el("td", { text: beds }), el("td", { text: takes(shelter.profile) }),
      el("td", { "data-reported-at": shelter.reported_at,
        text: `${t("ago")} ${duration(since(shelter.reported_at))}` + (stale ? ` (${t("stale")})` : "") })));
  }
  table($("shelters"), [t("shelter"), t("beds"), t("takes"), t("last_update")], rows);
}

// Who a shelter takes in, in a few words (its declared profile; nothing declared: "—").
function takes(profile) {
  if (!profile) return "—";
  const parts = [];
  if (profile.facility_type) parts.push(label("facility_type", profile.facility_type));
  if (profile.sex === "women") parts.push(t("takes_women"));
  if (profile.sex === "men") parts.push(t("takes_men"));
  if (profile.age_min != null || profile.age_max != null) {
    parts.push(`${t("takes_ages")} ${profile.age_min ?? 0}–${profile.age_max ?? "…"}`);
  }
  if (profile.wheelchair_access) parts.push(t("takes_wheelchair"));
  if (profile.confidential_address) parts.push(t("takes_confidential"));
  return parts.join(" · ");
}

// ---- a case ---------------------------------------------------------------------------------

function select(caseID) {
  state.selected = caseID;
  state.detail = null;
  $("detail-personal").hidden = true;
  $("detail-personal").textContent = "";
  $("act-status").textContent = "";
  $("act-status").className = "status";
  if (caseID) loadDetail(caseID);
  render();
  // On a phone the detail is below the list: bring it into view.
  if (caseID && window.innerWidth <= 700) $("detail").scrollIntoView({ block: "start" });
}

// One call as the caller told it, line by line.
function toldLines(told) {
  const lines = [];
  if (told.notes) lines.push(told.notes);
  if (told.place) lines.push(`${t("told_place")}: ${told.place}`);
  if (told.commune) lines.push(`${t("told_commune")}: ${told.commune}`);
  if (told.person) {
    const p = told.person;
    lines.push(`${t("told_person")}: ${p.count || 1} ${t("persons")}` + (p.age != null ? `, ${p.age} ${t("age_years")}` : "")
      + `, ${t("sex_" + (p.sex || "unknown"))}`);
  }
  if (told.factors && told.factors.length) {
    lines.push(`${t("told_factors")}: ${told.factors.map((f) => label("factor", f)).join(", ")}`);
  }
  if (told.channel) lines.push(`${t("told_channel")}: ${told.channel}`);
  if (told.language) lines.push(`${t("told_language")}: ${told.language}`);
  if (told.reporter) lines.push(`${t("told_callback")}: ${[told.reporter.name, told.reporter.phone].filter(Boolean).join(" · ")}`);
  if (told.reported_at) lines.push(`${t("told_reported")}: ${when(told.reported_at)}`);
  return lines;
}

// Personal data (notes, reporter, the place) only on the operator's click: each read is logged.
async function showPersonal() {
  const caseID = state.selected;
  if (!caseID) return;
  try {
    const personal = await api(`/api/cases/${caseID}/personal`);
    if (state.selected !== caseID) return;
    // The report as the caller told it, then each call linked to the case.
    const lines = toldLines(personal);
    for (const [index, linked] of (personal.calls || []).entries()) {
      lines.push("", `— ${t("linked_calls")} ${index + 1} —`, ...toldLines(linked));
    }
    $("detail-personal").textContent = lines.join("\n") || "—";
    $("detail-personal").hidden = false;
  } catch (error) {
    $("detail-personal").textContent = error.message;
    $("detail-personal").hidden = false;
  }
}

async function loadDetail(caseID) {
  try {
    const detail = await api(`/api/cases/${caseID}`);
    if (state.selected === caseID) {
      state.detail = detail;
      renderDetail();
      if (typeof loadPerson === "function") loadPerson(caseID);
    }
  } catch (error) {
    if (state.selected === caseID) { state.detail = null; renderDetail(); }
  }
}

function renderDetail() {
  const panel = $("detail");
  const item = state.board && state.board.cases.find((c) => c.case_id === state.selected);
  const detail = state.detail;
  if (!state.selected || (!item && !detail)) { panel.hidden = true; return; }
  panel.hidden = false;
  panel.dataset.caseId = state.selected;
  const category = item ? item.category : detail.category;
  const status = item ? item.status : detail.status;
  $("detail-title").textContent = `${(item && item.priority) || (detail && detail.priority) || ""} · ${label("beneficiary_category", category)} · ${state.selected.slice(0, 8)}`;
  // Why triage decided: each rule's reason in the operator's language.
  let reasons = [];
  try { reasons = (JSON.parse((detail && detail.triage) || "{}").reasons) || []; } catch (error) { reasons = []; }
  $("detail-reasons").replaceChildren(...reasons.map((reason) =>
    el("li", { "data-rule": reason.rule, text: reason[state.lang] || reason.fr || reason.en })));
  $("detail-summary").textContent = `${label("case_state", status)} — ${t("unit")}: ${(item && item.unit_id) || "—"} — ${t("bed")}: ${item && item.bed_type ? label("bed_type", item.bed_type) : "—"}${item && item.shelter_id ? " @ " + item.shelter_id : ""}`
    + (item && (item.flags || []).length ? ` — ⚠ ${item.flags.map((f) => t("flag_" + f)).join(" · ")}` : "");
  $("detail-summary").dataset.flags = item ? (item.flags || []).join(" ") : "";
  const claimedBy = item ? item.claimed_by : null;
  const mine = claimedBy === state.me.account.id;
  const claim = $("detail-claim");
  claim.dataset.claimedBy = claimedBy || "";
  claim.textContent = claimedBy ? `${t("claimed_by")} ${mine ? t("you") : claimedBy}` : t("not_claimed");
  const open = Boolean(item);
  const blocked = Boolean(claimedBy) && !mine;
  $("act-claim").disabled = !open || Boolean(claimedBy);
  $("act-release").disabled = !open || !claimedBy || (!mine && state.me.account.role !== "supervisor");
  const dispatches = state.me.account.role !== "child_protection";
  for (const id of ["act-reassign", "act-close", "act-cancel", "act-mutual-aid", "act-set-priority", "act-priority",
    "act-bed-type", "act-shelter", "act-choose-bed", "act-add-information"]) {
    $(id).disabled = !open || blocked || !dispatches;
  }
  // The bed override: the zone's shelters with a free bed of the chosen type, or the best one.
  const bedType = item && item.bed_type;
  if (bedType && $("act-bed-type").dataset.caseId !== state.selected) {
    $("act-bed-type").value = bedType;
    $("act-bed-type").dataset.caseId = state.selected;
  }
  const wanted = $("act-bed-type").value;
  const shelterChosen = $("act-shelter").value;
  const caseZone = item ? item.zone : detail.zone;
  const fitting = state.board.shelters.filter((s) => s.zone === caseZone && (s.beds || []).some((b) => b.bed_type === wanted && b.free > 0));
  $("act-shelter").replaceChildren(el("option", { value: "", text: t("best_shelter") }),
    ...fitting.map((s) => el("option", { value: s.shelter_id, text: s.shelter_id })));
  if ([...$("act-shelter").options].some((o) => o.value === shelterChosen)) $("act-shelter").value = shelterChosen;
  // The priority override starts from the case's own priority.
  const priority = (item && item.priority) || (detail && detail.priority);
  if (priority && $("act-priority").dataset.caseId !== state.selected) {
    $("act-priority").value = priority;
    $("act-priority").dataset.caseId = state.selected;
  }
  if (!dispatches) { $("act-claim").disabled = true; $("act-release").disabled = true; }
  // Units of the case's zone for a reassignment: free ones first.
  const zone = item ? item.zone : detail.zone;
  const units = state.board.units.filter((unit) => unit.zone === zone && unit.unit_id !== (item && item.unit_id));
  units.sort((a, b) => (a.status === "available" ? 0 : 1) - (b.status === "available" ? 0 : 1) || a.unit_id.localeCompare(b.unit_id));
  const chosen = $("act-unit").value;
  $("act-unit").replaceChildren(el("option", { value: "", text: t("best_unit") }),
    ...units.map((unit) => el("option", { value: unit.unit_id, text: `${unit.unit_id} — ${label("unit_status", unit.status)}` })));
  if ([...$("act-unit").options].some((o) => o.value === chosen)) $("act-unit").value = chosen;
  // What became of this operator's last command on the case.
  for (const [eventID, sent] of state.pending) {
    if (sent.caseID !== state.selected) continue;
    const result = state.board.commands.find((c) => c.event_id === eventID);
    if (result) {
      const node = $("act-status");
      node.className = "status " + result.outcome;
      node.dataset.outcome = result.outcome;
      node.textContent = result.outcome === "applied" ? t("applied") : t("rejected") + (result.rejection || "");
      state.pending.delete(eventID);
    }
  }
  // A child's referral: acknowledged, then decided, by a child-protection body or a supervisor.
  const referral = detail && detail.referral;
  const decides = ["child_protection", "supervisor"].includes(state.me.account.role);
  $("act-acknowledge").disabled = !decides || !referral || referral.status !== "open";
  $("act-decide").disabled = !decides || !referral || referral.status === "decided";
  const referralNode = $("detail-referral");
  referralNode.dataset.status = referral ? referral.status : "";
  referralNode.dataset.late = referral ? String(referral.late) : "false";
  referralNode.dataset.escalated = referral ? String(Boolean(referral.escalated_at)) : "false";
  referralNode.className = "claim" + (referral && referral.late ? " overdue" : "");
  referralNode.textContent = !referral ? t("referral_none")
    : `${t("referral")}: ${t("dest_" + referral.destination)} — ${t("rstatus_" + referral.status)} — ${t("due")}: ${referral.due_local}`
      + (referral.late ? ` (${t("late")})` : "")
      + (referral.escalated_at ? ` — ${t("escalated")} ${when(referral.escalated_at)}` : "")
      + (referral.acknowledged_by ? ` — ${referral.acknowledged_by}` : "")
      + (referral.decision ? ` — ${t("dec_" + referral.decision)}${referral.note ? ": " + referral.note : ""}` : "");
  // Case work: a step of the social path for any case; the follow-up task of a closed one.
  const task = detail && detail.follow_up;
  const taskOpen = Boolean(task) && !task.done_at;
  $("act-record-step").disabled = !detail || !dispatches;
  $("act-take-follow-up").disabled = !taskOpen || task.assignee === state.me.account.id || !dispatches;
  $("act-complete-follow-up").disabled = !taskOpen || !dispatches;
  $("act-visit-outcome").disabled = !taskOpen || !dispatches;
  const followUp = $("detail-follow-up");
  followUp.dataset.kind = task ? task.kind : "";
  followUp.dataset.done = task && task.done_at ? "true" : "false";
  followUp.dataset.refusals = task ? String(task.refusals) : "0";
  followUp.className = "claim" + (task && task.refusals > 1 ? " repeated" : "");
  followUp.textContent = !task ? t("follow_up_none")
    : `${t("task_" + task.kind)} — ${t("due")}: ${task.due_local} — ${t("assignee")}: ${task.assignee || "—"}`
      + (task.refusals > 0 ? ` — ${t("refused_times").replace("{n}", task.refusals)}` : "")
      + (task.visits > 0 ? ` — ${t("visits")}: ${task.visits}` : "")
      + (task.done_at ? ` — ${t("follow_up_done")} ${when(task.done_at)} (${task.done_by})${task.note ? ": " + task.note : ""}` : "");
  if (!detail) return;
  // Other calls about the person, linked to the case: when, how urgent each alone was, and why.
  const calls = detail.timeline.filter((entry) => entry.status === "report_linked").map((entry) => {
    try { return Object.assign({ at: entry.at, actor: entry.actor }, JSON.parse(entry.detail)); } catch (error) { return null; }
  }).filter(Boolean);
  $("detail-calls-box").hidden = calls.length === 0;
  $("detail-calls").replaceChildren(...calls.map((linked) =>
    el("li", { "data-report-id": linked.report_id },
      el("span", { class: "when", text: when(linked.at) + " " }),
      el("strong", { text: `${linked.priority} · ${label("beneficiary_category", linked.category)} ` }),
      el("ul", { class: "reasons" }, ...(linked.reasons || []).map((reason) =>
        el("li", { "data-rule": reason.rule, text: reason[state.lang] || reason.fr || reason.en }))))));
  $("detail-path").replaceChildren(...(detail.social_path || []).map((step) =>
    el("li", { "data-step": step.step, "data-recorded": String(step.recorded) },
      el("span", { class: "when", text: when(step.at) + " " }),
      el("strong", { text: t("step_" + step.step) + " " }),
      el("bdi", { class: "meta", dir: "ltr", text: `${step.by}${step.note ? " — " + step.note : ""}${step.recorded ? "" : " (" + t("derived") + ")"}` }))));
  $("detail-decisions").replaceChildren(...detail.decisions.map((decision) => {
    let record = {};
    try { record = JSON.parse(decision.record); } catch (error) { /* shown without candidates */ }
    const candidates = (record.unit_candidates || []).map((c) => `${c.id} (${Math.round(c.travel_seconds)} s)`).join(", ");
    const shelters = (record.shelter_candidates || []).map((c) => `${c.id} (${Math.round(c.travel_seconds)} s)`).join(", ");
    return el("li", { "data-kind": decision.kind },
      el("div", { text: `${decision.kind} → ${decision.unit_id || "—"} / ${decision.shelter_id || "—"} (${label("bed_type", decision.bed_type)})` }),
      el("div", { class: "meta", text: `${decision.reason}${decision.operator_id ? " — " + decision.operator_id + ": " + (decision.operator_reason || "") : ""}` }),
      candidates ? el("div", { class: "meta" }, `${t("candidates")}: `, el("bdi", { dir: "ltr", text: candidates })) : null,
      shelters ? el("div", { class: "meta" }, `${t("shelters")}: `, el("bdi", { dir: "ltr", text: shelters })) : null,
      el("div", { class: "meta", text: `${t("rules")}: ${decision.rules_version}` }));
  }));
  $("detail-timeline").replaceChildren(...detail.timeline.map((entry) => {
    let text = entry.detail;
    try {
      const parsed = JSON.parse(entry.detail);
      text = Object.entries(parsed).map(([key, value]) => `${key}: ${Array.isArray(value) ? value.join(", ") : value}`).join(" · ");
    } catch (error) { /* raw */ }
    return el("li", { "data-status": entry.status },
      el("span", { class: "when", text: new Date(entry.at).toLocaleTimeString(state.lang === "ar" ? "ar-MA" : "fr-MA") + " " }),
      el("strong", { text: label("case_state", entry.status) + " " }),
      el("bdi", { class: "meta", dir: "ltr", text: `${entry.actor} — ${text}` }));
  }));
}

async function send(command, extra = {}) {
  const caseID = state.selected;
  if (!caseID) return;
  const node = $("act-status");
  node.className = "status";
  node.dataset.outcome = "sent";
  node.textContent = t("sent");
  const body = Object.assign({ command, reason: $("act-reason").value }, extra);
  // One id per command until the console answers it: a second click, or the same command sent
  // again after an error on the way, is one command (a visit is never counted twice).
  const key = `${caseID} ${JSON.stringify(body)}`;
  if (!state.commandIDs.has(key)) state.commandIDs.set(key, crypto.randomUUID());
  body.event_id = state.commandIDs.get(key);
  try {
    const sent = await api(`/api/cases/${caseID}/commands`, { method: "POST", body });
    state.commandIDs.delete(key);
    state.pending.set(sent.event_id, { caseID, command });
    node.dataset.eventId = sent.event_id;
  } catch (error) {
    // Refused for good (4xx): a new attempt is a new command. Not answered: the same one.
    if (error.status && error.status < 500) state.commandIDs.delete(key);
    node.className = "status rejected";
    node.dataset.outcome = "error";
    node.textContent = t("error") + error.message;
  }
}

document.addEventListener("DOMContentLoaded", start);

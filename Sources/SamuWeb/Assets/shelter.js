"use strict";
// samu's shelter page: a shelter's staff (a night watchman at a shared desktop) keeps its beds
// and takes in the people samu sends. Every change is sent to samu as the shelter's next report.

const WORDS = {
  fr: {
    title: "samu — centre d'hébergement", login: "Connexion", login_id: "Identifiant", password: "Mot de passe",
    log_in: "Se connecter", logout: "Déconnexion", bad_login: "Identifiant ou mot de passe incorrect.",
    free: "libres", capacity: "capacité", occupied: "occupés", held: "réservés par samu", full_count: "Compter",
    save: "Enregistrer", updated: "Mis à jour", stale: "compte périmé : recomptez", incoming: "Personnes attendues",
    none_incoming: "Personne n'est attendu.", beds_n: "{n} lit(s)", crew: "équipe", arrival: "arrivée vers",
    admit: "Admis", no_show: "Pas venu", decline: "Refuser", reason: "Motif du refus", sent: "Envoyé à samu.",
    error: "Non envoyé : ", one_less: "Un lit de moins", one_more: "Un lit de plus", on_way: "en route",
    not_shelter: "Ce compte n'est pas celui d'un centre.",
  },
  ar: {
    title: "samu — مركز الإيواء", login: "تسجيل الدخول", login_id: "المعرف", password: "كلمة المرور",
    log_in: "دخول", logout: "خروج", bad_login: "المعرف أو كلمة المرور غير صحيحة.",
    free: "شاغرة", capacity: "الطاقة", occupied: "مشغولة", held: "محجوزة من samu", full_count: "عدّ",
    save: "حفظ", updated: "آخر تحديث", stale: "عدد متقادم: أعيدوا العد", incoming: "أشخاص في الطريق",
    none_incoming: "لا أحد في الطريق.", beds_n: "{n} سرير", crew: "الفريق", arrival: "الوصول حوالي",
    admit: "تم القبول", no_show: "لم يحضر", decline: "رفض", reason: "سبب الرفض", sent: "أُرسل إلى samu.",
    error: "لم يُرسل: ", one_less: "سرير أقل", one_more: "سرير إضافي", on_way: "في الطريق",
    not_shelter: "هذا الحساب ليس حساب مركز.",
  },
};
const BEDS = {
  fr: { men: "hommes", women: "femmes", women_with_children: "femmes avec enfants", minors: "mineurs", elderly: "personnes âgées" },
  ar: { men: "رجال", women: "نساء", women_with_children: "نساء مع أطفال", minors: "قاصرون", elderly: "مسنون" },
};
const UNIT_STATUS = {
  fr: { available: "disponible", en_route: "en route", on_scene: "sur place", transporting: "en transport", returning: "retour", off_duty: "hors service" },
  ar: { available: "متاحة", en_route: "في الطريق", on_scene: "في عين المكان", transporting: "في طور النقل", returning: "في طريق العودة", off_duty: "خارج الخدمة" },
};
const STALE_SECONDS = 4 * 3600;
const state = {
  lang: localStorage.getItem("samu.shelter.lang") || "fr", csrf: null, me: null, shelters: [], timer: null,
  // Per shelter: a report on its way, another change made meanwhile, the version samu gave the
  // last one sent (counts read back older than it are not shown over the page's own).
  sending: {},
  // Per case and answer (admit, no-show, decline): the id of an answer not yet taken by samu, kept
  // so that a second tap after an error sends the same answer again rather than a new one.
  answers: {},
};
const $ = (id) => document.getElementById(id);
const t = (key) => (WORDS[state.lang] || WORDS.fr)[key] || key;
const bedLabel = (code) => (BEDS[state.lang] || BEDS.fr)[code] || code;

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.method && options.method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
  const response = await fetch(path, {
    method: options.method || "GET", headers, credentials: "same-origin",
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.detail || response.statusText);
    error.status = response.status;
    throw error;
  }
  return body;
}

function say(text, failed) {
  $("status").textContent = text;
  $("status").className = "status" + (failed ? " error" : "");
  $("status").dataset.outcome = failed ? "error" : "sent";
}

async function refresh() {
  try {
    const shelters = await api("/api/shelter");
    // The page's own counts stand while a change is on its way or until samu has stored it.
    for (const shelter of shelters) {
      const sending = state.sending[shelter.shelter_id];
      const mine = state.shelters.find((old) => old.shelter_id === shelter.shelter_id);
      if (!sending || !mine || (!sending.busy && shelter.version >= sending.version)) continue;
      for (const [bed, count] of Object.entries(mine.beds)) {
        if (shelter.beds[bed]) Object.assign(shelter.beds[bed], { capacity: count.capacity, occupied: count.occupied });
      }
    }
    state.shelters = shelters;
    render();
  } catch (error) {
    if (error.status === 401) showLogin();
  }
}

// A change is applied to the page's counts at once, then sent: a tap as one bed more or less
// taken (samu adds it to the counts it has, after whatever else changed there), a full count as
// the counts of that bed type. One request at a time per shelter: taps made while one is on its
// way are added up and go with the next, so none is lost and none undoes an admission.
function change(shelter, bed, count, tap = 0) {
  Object.assign(shelter.beds[bed], count);
  render();
  const sending = state.sending[shelter.shelter_id] ||= { busy: false, version: 0, taps: {}, beds: {} };
  if (tap) sending.taps[bed] = (sending.taps[bed] || 0) + tap;
  else { sending.beds[bed] = { capacity: count.capacity, occupied: count.occupied }; delete sending.taps[bed]; }
  if (!sending.busy) sendCounts(shelter.shelter_id, sending);
}

async function sendCounts(shelterID, sending) {
  sending.busy = true;
  try {
    while (Object.keys(sending.taps).length || Object.keys(sending.beds).length) {
      const body = { beds: sending.beds, taps: sending.taps, change_id: uuid() };
      sending.beds = {}; sending.taps = {};
      const sent = await sendChange(`/api/shelter/${shelterID}/beds`, body);
      sending.version = Math.max(sending.version, sent.version || 0);
      say(t("sent"), false);
    }
  } catch (error) {
    // Not sent: the page shows samu's counts again.
    sending.beds = {}; sending.taps = {};
    sending.version = 0;
    say(t("error") + error.message, true);
  } finally {
    sending.busy = false;
  }
  setTimeout(refresh, 300);
}

// A change whose answer was lost (the network, samu restarting) is sent again under the same id,
// a few times: samu takes it once, whether the first one reached it or not.
async function sendChange(path, body) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await api(path, { method: "POST", body });
    } catch (error) {
      const lost = error.status === undefined || error.status >= 500 || error.status === 429;
      if (!lost || attempt >= 4) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
    }
  }
}

async function arrival(shelter, route, caseID, reason, person) {
  const sending = state.sending[shelter.shelter_id] ||= { busy: false, version: 0, taps: {}, beds: {} };
  if (route === "admit" && person && shelter.beds[person.bed_type]) {
    // The person takes the held beds on the page at once, as samu will: a tap made before samu
    // has stored the admission counts from there, and does not undo it.
    const count = shelter.beds[person.bed_type];
    count.occupied = Math.min(count.capacity, count.occupied + person.beds);
    count.held = Math.max(0, count.held - person.beds);
    render();
  }
  const answer = `${route}:${caseID}`;
  const changeID = state.answers[answer] ||= uuid();
  try {
    const sent = await sendChange(
      `/api/shelter/${shelter.shelter_id}/${route}`, { case_id: caseID, reason, change_id: changeID });
    delete state.answers[answer];
    sending.version = Math.max(sending.version, sent.version || 0);
    say(t("sent"), false);
  } catch (error) {
    say(t("error") + error.message, true);
  }
  setTimeout(refresh, 300);
}

function distanceKm(a, b) {
  const rad = Math.PI / 180;
  const h = Math.sin((b.lat - a.lat) * rad / 2) ** 2
    + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin((b.lon - a.lon) * rad / 2) ** 2;
  return 12742 * Math.asin(Math.sqrt(h));
}

function render() {
  document.documentElement.lang = state.lang;
  document.documentElement.dir = state.lang === "ar" ? "rtl" : "ltr";
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  $("lang").textContent = state.lang === "ar" ? "Français" : "العربية";
  // What is being typed (a count, a decline's reason) survives the page's refreshes: the values
  // edited and the field with the focus are put back after the redraw.
  const typed = [...document.querySelectorAll("#shelters input")]
    .filter((input) => input.value !== input.defaultValue || input === document.activeElement)
    .map((input) => ({ selector: typedSelector(input), value: input.value, focused: input === document.activeElement }));
  $("shelters").replaceChildren(...state.shelters.map((shelter) => {
    const age = (Date.now() - Date.parse(shelter.reported_at)) / 1000;
    const stale = age > STALE_SECONDS;
    const rows = Object.entries(shelter.beds).sort().map(([bed, count]) => {
      const free = count.capacity - count.occupied - count.held;
      const less = el("button", { type: "button", class: "tap", "aria-label": t("one_less"), "data-less": bed, text: "−" });
      const more = el("button", { type: "button", class: "tap", "aria-label": t("one_more"), "data-more": bed, text: "+" });
      // One tap: a bed taken (a walk-in) or freed (someone left).
      less.disabled = count.occupied >= count.capacity;
      more.disabled = count.occupied <= 0;
      less.addEventListener("click", () => {
        if (count.occupied < count.capacity) change(shelter, bed, { occupied: count.occupied + 1 }, 1);
      });
      more.addEventListener("click", () => {
        if (count.occupied > 0) change(shelter, bed, { occupied: count.occupied - 1 }, -1);
      });
      const capacity = el("input", { type: "number", min: "0", value: String(count.capacity), "data-capacity": bed });
      const occupied = el("input", { type: "number", min: "0", value: String(count.occupied), "data-occupied": bed });
      const save = el("button", { type: "button", class: "quiet", "data-count": bed, text: t("save") });
      save.addEventListener("click", () => {
        change(shelter, bed, { capacity: Number(capacity.value), occupied: Number(occupied.value) });
      });
      return el("tr", { "data-bed": bed, "data-free": String(free) },
        el("th", { text: bedLabel(bed) }),
        el("td", {}, less, el("span", { class: "free", text: String(free) }), more, el("span", { text: ` ${t("free")}` })),
        el("td", { text: `${count.held} ${t("held")}` }),
        el("td", { class: "count" }, el("span", { text: `${t("capacity")} ` }), capacity,
          el("span", { text: ` ${t("occupied")} ` }), occupied, save));
    });
    const incoming = (shelter.incoming || []).map((person) => {
      let eta = "";
      if (person.unit_position) {
        const minutes = Math.round(distanceKm(person.unit_position, shelter.position) / 30 * 60);
        eta = ` — ${t("arrival")} ${new Date(Date.now() + minutes * 60000).toLocaleTimeString(state.lang === "ar" ? "ar-MA" : "fr-MA", { hour: "2-digit", minute: "2-digit" })}`;
      }
      const admit = el("button", { type: "button", "data-admit": person.case_id, text: t("admit") });
      admit.addEventListener("click", () => arrival(shelter, "admit", person.case_id, undefined, person));
      const noShow = el("button", { type: "button", class: "quiet", "data-no-show": person.case_id, text: t("no_show") });
      noShow.addEventListener("click", () => arrival(shelter, "no-show", person.case_id));
      const reason = el("input", { "data-reason": person.case_id, placeholder: t("reason"), maxlength: "300" });
      const decline = el("button", { type: "button", class: "quiet", "data-decline": person.case_id, text: t("decline") });
      decline.addEventListener("click", () => arrival(shelter, "decline", person.case_id, reason.value));
      return el("li", { "data-case-id": person.case_id },
        el("div", { text: `${bedLabel(person.bed_type)} — ${t("beds_n").replace("{n}", person.beds)} — ${person.priority || ""}`
          + ` — ${t("crew")} ${person.unit_id || "—"}${person.unit_status ? ` (${(UNIT_STATUS[state.lang] || UNIT_STATUS.fr)[person.unit_status] || person.unit_status})` : ""}${eta}` }),
        admit, noShow, reason, decline);
    });
    return el("section", { class: "card", "data-shelter-id": shelter.shelter_id, "data-stale": String(stale) },
      el("h1", { text: shelter.shelter_id }),
      el("p", { class: stale ? "stale" : "meta", text: `${t("updated")} ${new Date(shelter.reported_at).toLocaleString(state.lang === "ar" ? "ar-MA" : "fr-MA")}${stale ? ` — ${t("stale")}` : ""}` }),
      el("table", { class: "beds" }, ...rows),
      el("h2", { text: t("incoming") }),
      incoming.length ? el("ul", { class: "incoming" }, ...incoming) : el("p", { class: "meta", text: t("none_incoming") }));
  }));
  for (const { selector, value, focused } of typed) {
    const input = selector && document.querySelector(selector);
    if (!input) continue;
    input.value = value;
    if (focused) input.focus();
  }
}

// The field's place on the page: its shelter and what it is for (a bed type's count, a person's
// decline reason).
function typedSelector(input) {
  const section = input.closest("section[data-shelter-id]");
  const own = ["data-capacity", "data-occupied", "data-reason"].find((name) => input.hasAttribute(name));
  if (!section || !own) return null;
  return `section[data-shelter-id="${section.dataset.shelterId}"] input[${own}="${input.getAttribute(own)}"]`;
}

function showLogin() {
  clearInterval(state.timer);
  state.me = null; state.csrf = null; state.shelters = [];
  $("login-view").hidden = false; $("main-view").hidden = true; $("logout").hidden = true;
  $("shelters").replaceChildren();
}

async function enter() {
  if (state.me.account.role !== "shelter") {
    $("login-status").textContent = t("not_shelter");
    showLogin();
    return;
  }
  $("login-view").hidden = true; $("main-view").hidden = false; $("logout").hidden = false;
  $("who").textContent = state.me.account.display_name;
  await refresh();
  clearInterval(state.timer);
  state.timer = setInterval(refresh, 5000);
}

async function start() {
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "ar" ? "fr" : "ar";
    localStorage.setItem("samu.shelter.lang", state.lang);
    render();
  });
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const me = await api("/api/login", { method: "POST", body: { operator_id: $("login-id").value, password: $("login-password").value } });
      state.me = me; state.csrf = me.csrf_token;
      $("login-password").value = "";
      await enter();
    } catch (error) {
      $("login-status").textContent = t("bad_login");
    }
  });
  $("logout").addEventListener("click", async () => {
    await api("/api/logout", { method: "POST", body: {} }).catch(() => {});
    showLogin();
  });
  render();
  try {
    state.me = await api("/api/me");
    state.csrf = state.me.csrf_token;
    await enter();
  } catch (error) {
    showLogin();
  }
}

document.addEventListener("DOMContentLoaded", start);

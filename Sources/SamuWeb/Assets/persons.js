// samu operator console: known people. An operator links a case to a person the service met
// before (under an alias samu chooses, never an identity number) and sees their encounters; a
// supervisor exports a person's data or erases it (law 09-08), each logged. Uses app.js's helpers.
"use strict";

Object.assign(UI.fr, {
  person_alias: "Alias (ex. Arganier 17)", person_link: "Lier à cette personne", person_new: "Nouvelle personne connue",
  person_unlink: "Délier", person_history: "Historique", person_export: "Exporter ses données (loi 09-08)",
  person_erase: "Effacer ses données", person_erase_reason: "Motif de l'effacement (la demande)",
  person_none: "Personne connue : aucune.", person_known: "Personne connue", person_encounters: "rencontre(s)",
  person_refusals: "refus", person_elsewhere: "dans d'autres zones", person_erased: "Données effacées pour",
  person_cases: "cas", person_visits: "visites",
  person_linked_other: "Ce cas est déjà lié à une autre personne (par un autre opérateur) : déliez-le d'abord.",
});
Object.assign(UI.ar, {
  person_alias: "الاسم المستعار (مثلا أركان 17)", person_link: "ربط بهذا الشخص", person_new: "شخص معروف جديد",
  person_unlink: "فك الربط", person_history: "السجل", person_export: "تصدير معطياته (القانون 09-08)",
  person_erase: "محو معطياته", person_erase_reason: "سبب المحو (الطلب)",
  person_none: "شخص معروف: لا أحد.", person_known: "شخص معروف", person_encounters: "لقاء",
  person_refusals: "رفض", person_elsewhere: "في مناطق أخرى", person_erased: "تم محو المعطيات في",
  person_cases: "حالة", person_visits: "زيارات",
  person_linked_other: "هذه الحالة مرتبطة بشخص آخر (من طرف مشغل آخر): فك الربط أولا.",
});

const persons = { caseID: null, person: null, matches: [], timer: null, loads: 0 };

// Called for the selected case at every board event: an open history stays open (and is brought
// up to date) while the case and its person stay the same.
async function loadPerson(caseID) {
  const before = persons.caseID === caseID && persons.person ? persons.person.person_id : null;
  persons.caseID = caseID;
  try {
    const person = await api(`/api/cases/${caseID}/person`);
    if (persons.caseID !== caseID) return;
    persons.person = person;
  } catch (error) {
    persons.person = null;
  }
  const after = persons.person ? persons.person.person_id : null;
  if (!before || before !== after) $("person-history").hidden = true;
  else if (!$("person-history").hidden) await showHistory();
  renderPerson();
  persons.loads += 1;
}

function renderPerson() {
  const person = persons.person;
  const line = $("person-line");
  line.dataset.personId = person ? person.person_id : "";
  line.textContent = person
    ? `${t("person_known")} : ${person.alias} — ${person.encounters} ${t("person_encounters")}, ${person.refusals} ${t("person_refusals")}`
    : t("person_none");
  const dispatches = state.me && ["operator", "supervisor"].includes(state.me.account.role);
  $("detail-person").hidden = !dispatches;
  $("person-unlink").disabled = !person;
  // A linked case is unlinked before it is linked to someone else: never replaced unseen.
  $("person-new").disabled = Boolean(person) || Boolean(persons.linking);
  $("person-link").disabled = Boolean(person);
  $("person-history-button").disabled = !person;
  $("person-rights").hidden = !(state.me && state.me.account.role === "supervisor");
}

function personStatus(text, outcome) {
  const node = $("person-status");
  node.textContent = text;
  node.dataset.outcome = outcome;
  node.className = "status " + (outcome === "error" ? "rejected" : "applied");
}

async function searchPersons() {
  const alias = $("person-search").value.trim();
  if (!alias) return;
  try {
    persons.matches = await api(`/api/persons?alias=${encodeURIComponent(alias)}`);
    $("person-matches").replaceChildren(...persons.matches.map((p) =>
      el("option", { value: p.alias, text: `${p.encounters} ${t("person_encounters")}, ${p.refusals} ${t("person_refusals")}` })));
  } catch (error) { persons.matches = []; }
}

async function linkPerson(personID) {
  const caseID = persons.caseID;
  // One link at a time: a double click on "new person" must not make two people.
  if (persons.linking) return;
  persons.linking = true;
  $("person-new").disabled = true;
  try {
    persons.person = await api(`/api/cases/${caseID}/person`, { method: "POST", body: personID ? { person_id: personID } : {} });
    personStatus("", "applied");
    renderPerson();
  } catch (error) {
    if (error.status === 409) {
      // Linked meanwhile by someone else: show who, and say so.
      personStatus(t("person_linked_other"), "error");
      if (persons.caseID === caseID) await loadPerson(caseID);
    } else {
      personStatus(t("error") + error.message, "error");
    }
  } finally {
    persons.linking = false;
    renderPerson();
  }
}

async function showHistory() {
  if (!persons.person) return;
  const personID = persons.person.person_id;
  try {
    const history = await api(`/api/persons/${personID}`);
    // Another case (or person) shown meanwhile: this history is not theirs.
    if (!persons.person || persons.person.person_id !== personID) return;
    const ended = (code) => (label("resolution", code) === code ? label("case_state", code) : label("resolution", code));
    const outcomes = Object.entries(history.outcomes).map(([code, n]) => `${ended(code)} : ${n}`).join(" · ");
    $("person-summary").textContent = `${history.person.alias} — ${history.person.encounters} ${t("person_encounters")}, `
      + `${history.person.refusals} ${t("person_refusals")}` + (outcomes ? ` — ${outcomes}` : "")
      + (history.elsewhere ? ` — ${history.elsewhere} ${t("person_elsewhere")}` : "");
    $("person-encounters").replaceChildren(...history.encounters.map((e) => {
      const row = el("li", { "data-case-id": e.case_id, "data-resolution": e.resolution || "" },
        el("span", { class: "when", text: when(e.opened_at) + " " }),
        el("strong", { text: `${label("beneficiary_category", e.category)} ` }),
        el("span", { class: "meta", text: `${label("zone", e.zone)} — ${e.resolution ? label("resolution", e.resolution) : label("case_state", e.status)}`
          + (e.refusals ? ` — ${e.refusals} ${t("person_refusals")}` : "") + (e.visits ? ` — ${e.visits} ${t("person_visits")}` : "") }));
      row.addEventListener("click", () => select(e.case_id));
      return row;
    }));
    $("person-history").hidden = false;
  } catch (error) { personStatus(t("error") + error.message, "error"); }
}

async function exportPerson() {
  if (!persons.person) return;
  try {
    const data = await api(`/api/persons/${persons.person.person_id}/export`);
    const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
    const link = el("a", { href: URL.createObjectURL(blob), download: `samu-person-${persons.person.person_id}.json` });
    document.body.append(link);
    link.click();
    link.remove();
    personStatus(`${t("person_export")} : ${data.cases.length} ${t("person_cases")}`, "exported");
  } catch (error) { personStatus(t("error") + error.message, "error"); }
}

async function erasePerson() {
  if (!persons.person) return;
  try {
    const erased = await api(`/api/persons/${persons.person.person_id}/erase`, { method: "POST", body: { reason: $("person-erase-reason").value } });
    personStatus(`${t("person_erased")} ${erased.cases} ${t("person_cases")}`, "erased");
    persons.person = null;
    $("person-history").hidden = true;
    renderPerson();
  } catch (error) { personStatus(t("error") + error.message, "error"); }
}

document.addEventListener("DOMContentLoaded", () => {
  $("person-search").addEventListener("input", () => { clearTimeout(persons.timer); persons.timer = setTimeout(searchPersons, 200); });
  $("person-link").addEventListener("click", () => {
    const alias = $("person-search").value.trim();
    const match = persons.matches.find((p) => p.alias.toLowerCase() === alias.toLowerCase());
    if (match) linkPerson(match.person_id); else personStatus(t("error") + alias, "error");
  });
  $("person-new").addEventListener("click", () => linkPerson(null));
  $("person-unlink").addEventListener("click", async () => {
    try {
      await api(`/api/cases/${persons.caseID}/person`, { method: "DELETE" });
      persons.person = null;
      renderPerson();
    } catch (error) { personStatus(t("error") + error.message, "error"); }
  });
  $("person-history-button").addEventListener("click", showHistory);
  $("person-export").addEventListener("click", exportPerson);
  $("person-erase").addEventListener("click", erasePerson);
});

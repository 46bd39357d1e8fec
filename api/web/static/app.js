// A little progressive enhancement; every page works without it.
"use strict";

const numbers = new Intl.NumberFormat(document.documentElement.lang === "sv" ? "sv-SE" : "en-GB");

// Upload: a file dropped on the box is the file chosen.
const drop = document.getElementById("drop");
if (drop) {
  const input = document.getElementById("file");
  const show = () => { document.getElementById("chosen").textContent = input.files.length ? input.files[0].name : ""; };
  input.addEventListener("change", show);
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    input.files = e.dataTransfer.files;
    show();
  });
}

// Follow a run until it finishes; `done` is called with its last state.
function follow(url, box, done) {
  const tick = async () => {
    const answer = await fetch(url, { headers: { Accept: "application/json" } });
    if (!answer.ok) return;
    const run = await answer.json();
    for (const [name, value] of Object.entries(run)) {
      const cell = box.querySelector(`[data-count="${name}"]`);
      if (cell) cell.textContent = numbers.format(value);
    }
    const bar = box.querySelector("progress");
    if (bar) { bar.max = run.total || 1; bar.value = run.processed; }
    if (run.finished) done(run); else setTimeout(tick, 700);
  };
  tick();
}

// A run's page: live counts, then the finished page (its failed rows, its report).
const running = document.querySelector("[data-progress]");
if (running) follow(running.dataset.progress, running, () => location.reload());

// The mapping page: a preview runs without leaving the form as the person set it.
const mapping = document.getElementById("mapping");
if (mapping) {
  const button = document.getElementById("preview-button");
  button.addEventListener("click", async (e) => {
    e.preventDefault();
    const box = document.getElementById("preview");
    box.innerHTML = "<p><progress></progress></p>";
    const answer = await fetch(button.formAction, { method: "POST", body: new FormData(mapping), headers: { Accept: "application/json" } });
    if (!answer.ok) {
      const page = new DOMParser().parseFromString(await answer.text(), "text/html");
      box.replaceChildren(page.querySelector(".error") || document.createTextNode(String(answer.status)));
      return;
    }
    const dry = await answer.json();
    follow(dry.progress, box, async () => {
      box.innerHTML = await (await fetch(dry.rows)).text();
      box.scrollIntoView();
    });
  });
  // An unmapped column stops standing out once it is given a field.
  for (const select of mapping.querySelectorAll("select[name^=field-]")) {
    select.addEventListener("change", () => { if (select.value) select.closest("tr").classList.remove("unmapped"); });
  }
}

// Failed rows: a row that is edited is ticked for the retry.
for (const input of document.querySelectorAll("#retry input[name^=row-]")) {
  input.addEventListener("input", () => { input.closest("tr").querySelector("input[name=retry]").checked = true; });
}

// The pages' small enhancements, all optional: without JavaScript every sample language is shown one
// after another and text is selected by hand.
// - Sample blocks (the docs): the four languages become tabs; the choice is remembered; arrow keys move.
// - Copy buttons: copy the text (or an input's value) they name.
const remembered = () => localStorage.getItem("atrium.sampleLanguage");

for (const block of document.querySelectorAll(".samples")) {
  const sections = [...block.querySelectorAll(".sample")];
  const list = document.createElement("div");
  list.className = "sample-tabs";
  list.setAttribute("role", "tablist");
  const tabs = sections.map((section, index) => {
    const label = section.querySelector(".sample-label");
    const tab = document.createElement("button");
    tab.type = "button";
    tab.textContent = label.textContent;
    tab.id = `tab-${label.id}`;
    tab.setAttribute("role", "tab");
    tab.setAttribute("aria-controls", section.id = `panel-${label.id}`);
    section.setAttribute("role", "tabpanel");
    section.setAttribute("aria-labelledby", tab.id);
    label.hidden = true;
    tab.addEventListener("click", () => choose(section.dataset.language, true));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = sections[(index + step + sections.length) % sections.length];
      choose(next.dataset.language, true);
      tabs[sections.indexOf(next)].focus();
    });
    list.append(tab);
    return tab;
  });
  block.prepend(list);
  block.choose = (language) => {
    const chosen = sections.some((s) => s.dataset.language === language) ? language : sections[0].dataset.language;
    sections.forEach((section, index) => {
      const on = section.dataset.language === chosen;
      section.hidden = !on;
      tabs[index].setAttribute("aria-selected", String(on));
      tabs[index].tabIndex = on ? 0 : -1;
    });
  };
  block.choose(remembered());
}

function choose(language, remember) {
  if (remember) localStorage.setItem("atrium.sampleLanguage", language);
  for (const block of document.querySelectorAll(".samples")) block.choose(language);
}

for (const button of document.querySelectorAll("button.copy")) {
  button.hidden = false;
  const label = button.textContent;
  button.addEventListener("click", async () => {
    const target = document.getElementById(button.dataset.copy);
    await navigator.clipboard.writeText(target instanceof HTMLInputElement ? target.value : target.textContent);
    button.textContent = button.dataset.copied ?? label;
    setTimeout(() => (button.textContent = label), 1500);
  });
}

const ORDER = ["system", "light", "dark"];
const ICON = { system: "◐", light: "☀", dark: "☾" };

/** Light, dark or the system's choice; remembered in this browser. */
export function initTheme(button) {
  let theme = localStorage.getItem("sigilum-theme");
  if (!ORDER.includes(theme)) theme = "system";
  const apply = () => {
    if (theme === "system") delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = theme;
    button.textContent = ICON[theme];
    button.setAttribute("aria-label", `Colour theme: ${theme}`);
    button.title = `Colour theme: ${theme}`;
  };
  button.addEventListener("click", () => {
    theme = ORDER[(ORDER.indexOf(theme) + 1) % ORDER.length];
    localStorage.setItem("sigilum-theme", theme);
    apply();
  });
  apply();
}

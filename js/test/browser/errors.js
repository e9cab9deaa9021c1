// errors.js — a classic script loaded before the test page's modules: keeps every console error, page
// error and unhandled rejection in window.pageErrors, for drivers without a console log (WebDriver classic).
window.pageErrors = [];
window.addEventListener('error', (e) => window.pageErrors.push(`error: ${e.message}`));
window.addEventListener('unhandledrejection', (e) => window.pageErrors.push(`unhandled rejection: ${e.reason?.message ?? e.reason}`));
const consoleError = console.error.bind(console);
console.error = (...args) => {
  window.pageErrors.push(`console.error: ${args.map(String).join(' ')}`);
  consoleError(...args);
};

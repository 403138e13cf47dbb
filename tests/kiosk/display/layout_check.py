"""Element geometry of the staff display, measured in the browser: text size, clipping, overlap."""
from __future__ import annotations

# Returns a list of problems (strings); empty when every visible text is at least `minPx` big,
# lies fully inside the viewport and inside every ancestor that clips (overflow other than
# visible), and no banner overlaps the header, main area or footer.
GEOMETRY_JS = r"""
const minPx = arguments[0];
const problems = [];
const vw = innerWidth, vh = innerHeight;
const visible = (el) => {
  for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
    const cs = getComputedStyle(e);
    if (cs.display === "none" || cs.visibility === "hidden") return false;
  }
  return el.getClientRects().length > 0;
};
const label = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
  (el.className && typeof el.className === "string" ? "." + el.className.split(" ")[0] : "");
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  if (!node.textContent.trim()) continue;
  const el = node.parentElement;
  if (!el || ["SCRIPT", "STYLE"].includes(el.tagName) || el.closest("#cancel-dialog[hidden]")
      || !visible(el)) continue;
  const size = parseFloat(getComputedStyle(el).fontSize);
  const where = label(el) + " '" + node.textContent.trim().slice(0, 30) + "'";
  if (size < minPx - 0.01) problems.push("small text " + size.toFixed(1) + "px: " + where);
  const range = document.createRange();
  range.selectNodeContents(node);
  for (const r of range.getClientRects()) {
    if (r.width === 0 || r.height === 0) continue;
    if (r.left < -0.5 || r.top < -0.5 || r.right > vw + 0.5 || r.bottom > vh + 0.5) {
      problems.push("off screen: " + where);
      break;
    }
    let clipped = false;
    for (let a = el; a && a !== document.documentElement; a = a.parentElement) {
      const cs = getComputedStyle(a);
      if (cs.overflowX === "visible" && cs.overflowY === "visible") continue;
      const c = a.getBoundingClientRect();
      if (r.left < c.left - 0.5 || r.right > c.right + 0.5 || r.top < c.top - 0.5 ||
          r.bottom > c.bottom + 0.5) { clipped = true; problems.push("cut off by " + label(a) + ": " + where); break; }
    }
    if (clipped) break;
  }
  if (getComputedStyle(el).textOverflow === "ellipsis" && el.scrollWidth > el.clientWidth + 1)
    problems.push("ellipsis: " + where);
}
for (const card of document.querySelectorAll(".card, header, footer, .banner")) {
  if (!visible(card)) continue;
  if (card.scrollHeight > card.clientHeight + 1 || card.scrollWidth > card.clientWidth + 1)
    problems.push("content overflows " + label(card));
}
const boxes = ["header", "main", "footer"].map((s) => document.querySelector(s).getBoundingClientRect());
for (const banner of document.querySelectorAll(".banner")) {
  if (!visible(banner)) continue;
  const b = banner.getBoundingClientRect();
  for (const r of boxes) {
    if (b.left < r.right && r.left < b.right && b.top < r.bottom - 0.5 && r.top < b.bottom - 0.5)
      problems.push("banner covers content: " + label(banner));
  }
}
if (document.documentElement.scrollHeight > vh + 1) problems.push("page scrolls");
return problems;
"""


def layout_problems(driver, min_px: float = 20.0) -> list[str]:
    return driver.execute_script(GEOMETRY_JS, min_px)

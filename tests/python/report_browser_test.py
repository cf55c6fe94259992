#!/usr/bin/python3
"""The report end to end, rendered in a real browser.

Generates four markets with the data generator (latent segments drive the
answers, the objective behaviour differs by latent segment), imports them
into a SQLite store, publishes oncology, runs cycles (DE twice, with field
refinements, so churn and refinement payoff exist), and then:

- checks the JSON report: every market separates customers on the
  objective behaviour well above min_differentiation, with no warning;
- renders the HTML report in Debian's headless Chromium and checks the DOM
  the browser built: the three kinds of chart are there and their numbers
  (data- attributes) are the JSON's; the page has no external reference;
- takes a screenshot and checks it is not blank (decoded here: PNG is zlib
  and a filter per row);
- previews a deliberately scrambled rule set (tests/data/rules/scrambled)
  over DE: the preview warns that eta-squared is below min_differentiation;
  published and run in DE, the market report warns too, in the HTML as well.

usage: report_browser_test.py --cli HARMONIA --source DIR
"""
import argparse
import html.parser
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

CHROMIUM = "/usr/bin/chromium"
MARKETS = ["DE", "ES", "FR", "US"]


def run(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit("FAILED: %s\nstdout: %s\nstderr: %s" % (" ".join(args), r.stdout, r.stderr))
    return r.stdout


class Dom(html.parser.HTMLParser):
    """The elements of a page as (tag, attrs, text-inside-until-next-tag)."""

    def __init__(self):
        super().__init__()
        self.elements = []
        self.stack = []

    def handle_starttag(self, tag, attrs):
        e = {"tag": tag, "attrs": dict(attrs), "text": "", "parents": list(self.stack)}
        self.elements.append(e)
        if tag not in ("meta", "br", "img", "link", "input", "hr"):  # HTML's void elements
            self.stack.append(e)

    def handle_endtag(self, tag):
        if not any(e["tag"] == tag for e in self.stack):
            return
        while self.stack:
            if self.stack.pop()["tag"] == tag:
                break

    def handle_data(self, data):
        for e in self.stack:
            e["text"] += data

    def find(self, tag, cls=None, **attrs):
        out = []
        for e in self.elements:
            if e["tag"] != tag:
                continue
            if cls and cls not in e["attrs"].get("class", "").split():
                continue
            if all(e["attrs"].get(k.replace("_", "-")) == v for k, v in attrs.items()):
                out.append(e)
        return out


def inside(e, parent):
    return any(p is parent for p in e["parents"])


def png_pixels(path):
    """(width, height, rows of bytes, bytes per pixel) of an 8-bit RGB(A) PNG."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


def check_screenshot(path):
    width, height, rows, bpp = png_pixels(path)
    background = rows[0][:3]
    colours, differ, total = set(), 0, 0
    for y in range(0, height, 4):
        row = rows[y]
        for x in range(0, width * bpp, 4 * bpp):
            px = row[x:x + 3]
            colours.add(px)
            differ += px != background
            total += 1
    share = differ / total
    assert share > 0.05, "screenshot nearly blank: %.1f%% of pixels differ from the background" % (100 * share)
    assert len(colours) > 20, "screenshot has only %d colours" % len(colours)
    return share, len(colours)


def chromium(args):
    base = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--no-first-run", "--disable-extensions", "--user-data-dir=" + args["profile"]]
    return base


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--source", required=True)
    a = ap.parse_args()
    if not os.path.exists(CHROMIUM):
        raise SystemExit("FAILED: %s is missing: scripts/setup.sh installs Debian's chromium" % CHROMIUM)
    tmp = tempfile.mkdtemp(prefix="harmonia-report-browser-")
    try:
        cli = a.cli
        store = "sqlite:" + os.path.join(tmp, "h.db")
        data = os.path.join(tmp, "data")
        run([cli, "gen", "--rules", os.path.join(a.source, "rules", "oncology.yaml"), "--countries",
             ",".join(MARKETS), "--customers", "3000", "--seed", "7", "--as-of", "2026-11-01",
             "--out", data])
        run([cli, "import", "--quiet", "--store", store, data])
        run([cli, "rules", "publish", "--store", store, os.path.join(a.source, "rules", "oncology.yaml")])
        countries = os.path.join(a.source, "countries")
        for cc in MARKETS:
            extra = ["--refinements", os.path.join(data, "refinements.csv")] if cc == "DE" else []
            run([cli, "cycle", "run", "--store", store, "--country", cc, "--ta", "oncology",
                 "--countries", countries, "--as-of", "2026-11-01"] + extra)
        run([cli, "cycle", "run", "--store", store, "--country", "DE", "--ta", "oncology",
             "--countries", countries, "--as-of", "2026-11-15"])

        report = json.loads(run([cli, "report", "--store", store, "--ta", "oncology", "--json"]))
        assert report["schema"] == "harmonia.report/1", report["schema"]
        assert [m["country"] for m in report["markets"]] == MARKETS
        threshold = report["min_differentiation"]
        for m in report["markets"]:
            q = m["quality"]
            eta = q["separation"]["eta_squared"]
            assert eta > 2 * threshold, "%s: eta-squared %.4f not well above %.2f" % (m["country"], eta, threshold)
            assert not q["warnings"], (m["country"], q["warnings"])
            print("%s: eta-squared %.3f (min_differentiation %.2f), Kruskal-Wallis p %.2g" %
                  (m["country"], eta, threshold, q["separation"]["p_value"]))
        de = report["markets"][0]
        assert de["quality"]["churn"]["previous_cycle_id"] != "0", "DE has no churn"
        assert de["quality"]["refinements"]["applied"] != "0", "no refinement applied in DE"
        assert de["quality"]["refinement_payoff"], "no refinement payoff in DE"

        page = os.path.join(tmp, "report.html")
        run([cli, "report", "--store", store, "--ta", "oncology", "--html", page])
        text = open(page, encoding="utf-8").read()
        for bad in ("<script", "src=", "href=\"http", "@import", "url("):
            assert bad not in text, "the page is not self-contained: %r" % bad
        profile = os.path.join(tmp, "profile")
        base = chromium({"profile": profile})
        dom = Dom()
        dom.feed(run(base + ["--dump-dom", "file://" + page], timeout=120))

        share_svgs = dom.find("svg", "chart-share")
        assert len(share_svgs) == 1, "stacked bars missing"
        bars = [e for e in dom.find("rect", "bar") if inside(e, share_svgs[0])]
        want = {(m["country"], s["segment"]): s["share"] for m in report["markets"]
                for s in m["quality"]["segments"]}
        got = {(e["attrs"]["data-country"], e["attrs"]["data-segment"]): float(e["attrs"]["data-share"])
               for e in bars}
        assert set(got) == set(want), (sorted(got), sorted(want))
        for k in want:
            assert abs(got[k] - want[k]) < 1e-12, (k, got[k], want[k])

        boxes = dom.find("svg", "chart-box")
        assert [b["attrs"]["data-country"] for b in boxes] == MARKETS, "box plots missing"
        for m, svg in zip(report["markets"], boxes):
            drawn = {e["attrs"]["data-segment"]: e for e in dom.find("g", "box") if inside(e, svg)}
            for s in m["quality"]["segments"]:
                o = s["objective"]
                if o["n"] == "0":
                    continue
                e = drawn[s["segment"]]
                for key in ("median", "q1", "q3", "mean"):
                    assert abs(float(e["attrs"]["data-" + key]) - o[key]) < 1e-12, (m["country"], key)
                assert e["attrs"]["data-n"] == o["n"]

        churn = dom.find("svg", "chart-churn")
        assert [c["attrs"]["data-country"] for c in churn] == ["DE"], "churn heatmap missing for DE"
        cells = [e for e in dom.find("rect", "cell") if inside(e, churn[0])]
        c = de["quality"]["churn"]
        total = sum(int(e["attrs"]["data-customers"]) for e in cells)
        assert total == sum(int(c[k]) for k in ("stayed", "moved", "entered", "left")), total
        for m in report["markets"]:
            row = dom.find("tr", data_country=m["country"])
            eta = [e for e in dom.find("td", "eta") if inside(e, row[0])]
            assert abs(float(eta[0]["attrs"]["data-value"]) - m["quality"]["separation"]["eta_squared"]) < 1e-12
        labels = [e["text"] for e in dom.find("span", "label")]
        assert "Früher Anwender" in labels, "DE's localized labels are not shown"
        assert dom.find("section", id="warnings"), "warnings section missing"

        shot = os.path.join(tmp, "report.png")
        run(base + ["--window-size=1200,1600", "--screenshot=" + shot, "file://" + page], timeout=120)
        share, colours = check_screenshot(shot)
        print("screenshot: %.0f%% of pixels drawn, %d colours" % (100 * share, colours))

        # A scrambled rule set: first as a preview, then published and run in DE.
        scrambled = os.path.join(a.source, "tests", "data", "rules", "scrambled", "oncology.yaml")
        preview = json.loads(run([cli, "report", "--store", store, "--country", "DE", "--candidate",
                                  scrambled, "--json"]))
        pq = preview["preview"]["quality"]
        assert pq["separation"]["eta_squared"] < threshold, pq["separation"]
        assert any("below min_differentiation" in w for w in pq["warnings"]), pq["warnings"]
        assert preview["preview"]["quality"]["churn"]["cells"], "no transition matrix"
        print("scrambled preview: eta-squared %.4f, warned" % pq["separation"]["eta_squared"])
        run([cli, "rules", "publish", "--store", store, scrambled])
        run([cli, "cycle", "run", "--store", store, "--country", "DE", "--ta", "oncology",
             "--countries", countries, "--as-of", "2026-11-20"])
        after = json.loads(run([cli, "report", "--store", store, "--ta", "oncology", "--json"]))
        warnings = after["warnings"]
        assert any(w.startswith("DE: objective behaviour trx_share: eta-squared") and
                   "below min_differentiation" in w for w in warnings), warnings
        assert "FR runs oncology v3; v4 is the latest" in warnings, warnings
        run([cli, "report", "--store", store, "--ta", "oncology", "--html", page])
        dom = Dom()
        dom.feed(run(base + ["--dump-dom", "file://" + page], timeout=120))
        flagged = [e for e in dom.find("td", "warn") if "eta" in e["attrs"].get("class", "")]
        assert len(flagged) == 1, "DE's eta-squared is not highlighted"
        assert any("below min_differentiation" in e["text"] for e in dom.find("li", "warning"))
        print("scrambled in DE: warned in the JSON and highlighted in the HTML")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

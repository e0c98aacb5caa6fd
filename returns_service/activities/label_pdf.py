"""The built-in carrier's shipping label: a one-page PDF with the tracking number as a barcode."""

from __future__ import annotations

from io import BytesIO

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode import code128, qr
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A6
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas

from returns_service.domain.messages import CreateLabel


def render_label(request: CreateLabel, carrier: str, tracking_number: str) -> bytes:
    buffer = BytesIO()
    width, height = A6
    pdf = canvas.Canvas(buffer, pagesize=A6, invariant=True)
    pdf.setTitle(f"Return label {request.number}")
    pdf.setFont("Helvetica-Bold", 14)
    pdf.drawString(8 * mm, height - 12 * mm, f"RETURN {request.number}")
    pdf.setFont("Helvetica", 8)
    pdf.drawString(8 * mm, height - 18 * mm, f"Carrier: {carrier}")
    pdf.drawString(8 * mm, height - 22 * mm, f"From: {request.customer.email}")
    pdf.drawString(8 * mm, height - 26 * mm, "To: Returns department")
    pdf.drawString(
        8 * mm, height - 30 * mm, f"Valid until: {request.expires_at.date().isoformat()}"
    )
    barcode = code128.Code128(tracking_number, barHeight=18 * mm, barWidth=0.3 * mm)
    barcode.drawOn(pdf, 8 * mm, height - 56 * mm)
    pdf.setFont("Helvetica-Bold", 11)
    pdf.drawString(8 * mm, height - 62 * mm, tracking_number)
    code = qr.QrCodeWidget(f"{request.number} {tracking_number}")
    x0, y0, x1, y1 = code.getBounds()
    size = 24 * mm
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(code)
    renderPDF.draw(drawing, pdf, width - size - 8 * mm, height - 90 * mm)
    pdf.setFont("Helvetica", 7)
    y = height - 70 * mm
    for item in request.items[:8]:
        pdf.drawString(8 * mm, y, f"{item.quantity} x {item.sku} {item.name}"[:48])
        y -= 4 * mm
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()

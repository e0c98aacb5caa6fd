# One image for every process of the returns service: `returns api`, `returns worker`, `returns migrate`.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY returns_service ./returns_service
RUN pip install --no-cache-dir .
ENV RETURNS_DATA_DIR=/data
EXPOSE 8000
CMD ["returns", "api", "--host", "0.0.0.0", "--port", "8000"]

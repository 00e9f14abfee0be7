# The app image for docker-compose.yml: both workers and the CLI/API run from it.
FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt constraints.txt ./
RUN pip install --no-cache-dir -r requirements.txt -c constraints.txt
COPY . .
ENV PYTHONUNBUFFERED=1
CMD ["python", "-m", "workers.order_worker"]

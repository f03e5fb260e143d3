# The rayplane operator image: `docker build -t rayplane-operator .`
# The operator needs no Ray processes, only the package and its Kubernetes extras; ray is
# a dependency of the package (the shared reconcilers import none of it at run time).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --uid 65532 --create-home operator
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER 65532:65532
ENV PYTHONUNBUFFERED=1
EXPOSE 8080 8082 9443
ENTRYPOINT ["python", "-m", "rayplane.kubernetes"]

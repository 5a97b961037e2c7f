// Riskgate CI gate for TeamCity (Kotlin DSL, .teamcity/settings.kts): scan with Trivy, then let Riskgate
// decide. Parameters: env.RISKGATE_URL (text) and env.RISKGATE_TOKEN (a password parameter, kept hidden
// in logs); set them in the project or paste your secure token reference. See docs/ci.md.
import jetbrains.buildServer.configs.kotlin.*
import jetbrains.buildServer.configs.kotlin.buildSteps.script

version = "2024.03"

project {
    buildType(ContainerGate)
}

object ContainerGate : BuildType({
    name = "Build, scan and gate the image"

    params {
        param("env.IMAGE_REF", "registry.example.com/team-a/shop:%build.number%")
        param("env.RISKGATE_URL", "https://abc123.execute-api.eu-west-1.amazonaws.com/api")
        password("env.RISKGATE_TOKEN", "credentialsJSON:00000000-0000-0000-0000-000000000000")
        param("env.RISKGATE_PIP_SOURCE", "https://github.com/your-org/riskgate/archive/refs/tags/v0.1.0.tar.gz")
    }

    steps {
        script {
            name = "Build image"
            scriptContent = """docker build -t "${'$'}IMAGE_REF" ."""
        }
        script {
            name = "Scan with Trivy"
            scriptContent = """
                docker run --rm -v /var/run/docker.sock:/var/run/docker.sock -v "${'$'}PWD:/out" \
                    aquasec/trivy:0.58.1 image --format json --output /out/trivy-report.json "${'$'}IMAGE_REF"
            """.trimIndent()
        }
        script {
            name = "Riskgate gate"
            // A non-zero exit fails the step: 1 when the gate fails, 2 when Riskgate could not be asked.
            scriptContent = """
                python3 -m venv .riskgate
                .riskgate/bin/pip install --disable-pip-version-check --quiet --no-deps "${'$'}RISKGATE_PIP_SOURCE"
                .riskgate/bin/riskgate scan submit trivy-report.json --image "${'$'}IMAGE_REF" --fail-on block
            """.trimIndent()
        }
    }

    artifactRules = "trivy-report.json"
})

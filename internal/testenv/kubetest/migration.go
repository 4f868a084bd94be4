// The migration Job the deploy tests and the engine suite both deploy: one definition, so both exercise
// the same shape (the usual FastAPI + SQLAlchemy + Alembic pre-deploy job).
package kubetest

import "strings"

// migrationJob is marked pre-deploy, takes the service image by its logical name, and passes validate.
const migrationJob = `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    ship/hook: pre-deploy
spec:
  backoffLimit: 0
  template:
    metadata:
      annotations: {}
    spec:
      restartPolicy: Never
      securityContext:
        runAsNonRoot: true
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: migrate
          image: fastapi-app
          command: ["alembic", "upgrade", "head"]
          resources:
            requests: {cpu: 50m, memory: 64Mi}
            limits: {cpu: 500m, memory: 256Mi}
          securityContext:
            readOnlyRootFilesystem: true
            allowPrivilegeEscalation: false
            capabilities: {drop: [ALL]}
`

// MigrationJob is the migration Job's YAML with podAnnotations (a flow mapping's inside, e.g. a kwok
// fault) on its pod template.
func MigrationJob(podAnnotations string) string {
	return strings.Replace(migrationJob, "      annotations: {}", "      annotations: {"+podAnnotations+"}", 1)
}

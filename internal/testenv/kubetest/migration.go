// The migration Job the deploy tests and the engine suite both deploy: one definition, so both exercise
// the same shape (the usual FastAPI + SQLAlchemy + Alembic pre-deploy job).
package kubetest

import "strings"

// migrationJob is marked pre-deploy and takes the service image by its logical name.
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
      containers:
        - name: migrate
          image: fastapi-app
          command: ["alembic", "upgrade", "head"]
`

// MigrationJob is the migration Job's YAML with podAnnotations (a flow mapping's inside, e.g. a kwok
// fault) on its pod template.
func MigrationJob(podAnnotations string) string {
	return strings.Replace(migrationJob, "      annotations: {}", "      annotations: {"+podAnnotations+"}", 1)
}
